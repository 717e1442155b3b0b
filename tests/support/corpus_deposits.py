"""A bank's view of some ERAs: the deposits their payments would bring, with one missing, one short by a takeback
and one the ERAs do not know (rules §10), as NACHA and BAI2 files; and the outcome each payment must get."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from schemas import Takeback
from streams.domain.bank.reassociation import EraFact, MatchKey
from streams.domain.offline import apply_all, read_files
from tests.support.bank_files import BankPayment, bai2_file, nacha_file

FALLBACK_DATE = dt.date(2026, 1, 5)
EXTRA = BankPayment("NOERA0001", "1999999999", Decimal("64.10"), dt.date(2010, 1, 4))


def paying_payments(
    era_files: Sequence[Path],
) -> tuple[dict[MatchKey, list[EraFact]], dict[str, list[Takeback]]]:
    """Payments that expect a deposit, by match key (reissues counted once), and takebacks by remittance."""
    remittances, _ = read_files(era_files)
    by_key: dict[MatchKey, dict[tuple, EraFact]] = defaultdict(dict)
    for remittance in remittances:
        era = EraFact.of(remittance)
        if era.expects_deposit:
            by_key[era.key].setdefault((era.provider_id, era.amount, era.effective_date), era)
    takebacks: dict[str, list[Takeback]] = defaultdict(list)
    for takeback in apply_all(remittances).live_takebacks():
        if takeback.amount:  # a zero takeback (a J1 of 0.00) changes no deposit
            takebacks[takeback.remittance_id].append(takeback)
    return {key: list(eras.values()) for key, eras in by_key.items()}, takebacks


def bank_files_for(era_files: Sequence[Path], folder: Path) -> tuple[list[Path], dict[MatchKey, str]]:
    """deposits.ach and statement.bai in `folder` for the ERAs' payments: the first EFT with a takeback arrives
    short by that takeback's amount; the next EFT and the first check never arrive; EXTRA arrives with no ERA.
    Returns the files and the status each match key must end with."""
    payments, takebacks = paying_payments(era_files)
    ach = sorted(k for k in payments if k[0] == "ACH")
    checks = sorted(k for k in payments if k[0] == "CHK")
    short = next(k for k in ach if any(takebacks[e.remittance_id] for e in payments[k]))
    missing = {k for k in (next((k for k in ach if k != short), None), checks[0] if checks else None) if k}
    expected: dict[MatchKey, str] = {}
    nacha, bai2 = [], []
    for key in ach + checks:
        if key in missing:
            expected[key] = "era_without_deposit"
            continue
        eras = payments[key]
        amount = sum((e.amount for e in eras), Decimal(0))
        if key == short:
            carrier = next(e for e in reversed(eras) if takebacks[e.remittance_id])
            amount -= takebacks[carrier.remittance_id][0].amount
        date = min(e.expected_date or FALLBACK_DATE for e in eras)
        if key[0] == "CHK":
            bai2.append(BankPayment("-", "-", amount, date, check_number=key[2]))
        else:
            nacha.append(BankPayment(key[2], key[1], amount, date))
        expected[key] = "amount_mismatch" if key == short else "matched"
    expected[("ACH", EXTRA.payer_id, EXTRA.trace_number)] = "deposit_without_era"
    (folder / "deposits.ach").write_bytes(nacha_file([*nacha, EXTRA], line_ending="\r\n"))
    files = [folder / "deposits.ach"]
    if bai2:
        (folder / "statement.bai").write_bytes(bai2_file(bai2))
        files.append(folder / "statement.bai")
    return files, expected
