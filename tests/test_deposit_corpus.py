"""The public ERA corpus with a generated bank file of its deposits: some missing, one short by a
takeback, one extra. Each payment must get exactly the outcome its construction gives it (rules §10)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from schemas import Takeback
from streams.domain.bank.offline import ReassociationResult, reassociate_files
from streams.domain.bank.reassociation import EraFact, MatchKey
from streams.domain.offline import apply_all, read_files
from streams.samples import CORPUS_DIR
from tests.support.bank_files import BankPayment, bai2_file, nacha_file

FALLBACK_DATE = dt.date(2026, 1, 5)
Replayed = tuple[ReassociationResult, dict[MatchKey, str], list[Path]]
EXTRA = BankPayment("NOERA0001", "1999999999", Decimal("64.10"), dt.date(2010, 1, 4))


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS_DIR.iterdir() if p.name != "SOURCES.md")


def paying_payments() -> tuple[dict[MatchKey, list[EraFact]], dict[str, list[Takeback]]]:
    """Payments that expect a deposit, by match key (reissues counted once), and non-zero takebacks by remittance."""
    remittances, _ = read_files(corpus_files())
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


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    payments, takebacks = paying_payments()
    ach = sorted(k for k in payments if k[0] == "ACH")
    checks = sorted(k for k in payments if k[0] == "CHK")
    short = next(k for k in ach if any(takebacks[e.remittance_id] for e in payments[k]))
    missing = {next(k for k in ach if k != short), checks[0]}
    expected: dict[MatchKey, str] = {}
    nacha, bai2 = [], []
    for key in ach + checks:
        if key in missing:
            expected[key] = "era_without_deposit"
            continue
        eras = payments[key]
        amount = sum((e.amount for e in eras), Decimal(0))
        if key == short:
            amount -= takebacks[eras[-1].remittance_id][0].amount
        date = min(e.expected_date or FALLBACK_DATE for e in eras)
        if key[0] == "CHK":
            bai2.append(BankPayment("-", "-", amount, date, check_number=key[2]))
        else:
            nacha.append(BankPayment(key[2], key[1], amount, date))
        expected[key] = "amount_mismatch" if key == short else "matched"
    expected[("ACH", EXTRA.payer_id, EXTRA.trace_number)] = "deposit_without_era"
    folder = tmp_path_factory.mktemp("bank")
    (folder / "deposits.ach").write_bytes(nacha_file([*nacha, EXTRA], line_ending="\r\n"))
    (folder / "statement.bai").write_bytes(bai2_file(bai2))
    bank_files = [folder / "deposits.ach", folder / "statement.bai"]
    return reassociate_files([*corpus_files(), *bank_files]), expected, bank_files


def key_of(record: dict) -> MatchKey:
    method = record["payment_method"]
    return (method, "" if method == "CHK" else record["payer_id"], record["trace_number"])


def test_every_payment_gets_the_outcome_it_was_built_for(replayed: Replayed) -> None:
    result, expected, _ = replayed
    got = {key_of(r.model_dump()): r.status for r in result.records.values()}
    assert got == expected
    assert not [d for d in result.dead_letters if d.source.file in ("deposits.ach", "statement.bai")]


def test_the_short_deposit_is_explained_by_its_takeback(replayed: Replayed) -> None:
    result, _, _ = replayed
    (mismatch,) = [r for r in result.records.values() if r.status == "amount_mismatch"]
    takebacks = {t.event_id: t for t in result.takebacks}
    assert mismatch.difference < 0 and mismatch.explained_by
    assert sum(takebacks[i].amount for i in mismatch.explained_by) == -mismatch.difference
    assert all(takebacks[i].remittance_id in mismatch.remittance_ids for i in mismatch.explained_by)


def test_the_bank_files_anywhere_among_the_eras_give_the_same_records(replayed: Replayed) -> None:
    result, _, bank_files = replayed
    baseline = {i: r.model_dump(exclude={"revision", "deposit_source"}) for i, r in result.records.items()}
    files = corpus_files()
    for cut in (0, len(files) // 2):
        for bank in itertools.permutations(bank_files):
            again = reassociate_files([*files[:cut], *bank, *files[cut:]])
            records = {i: r.model_dump(exclude={"revision", "deposit_source"}) for i, r in again.records.items()}
            assert records == baseline, f"bank files at {cut}, in order {[p.name for p in bank]}"


def test_positions_per_provider_add_up_to_the_records(replayed: Replayed) -> None:
    result, _, _ = replayed
    records = list(result.records.values())
    rows = result.positions
    assert {row.provider_id for row in rows} == {r.provider_id for r in records}
    missing = sum((r.era_amount for r in records if r.status == "era_without_deposit"), Decimal(0))
    assert sum((row.missing_amount for row in rows), Decimal(0)) == missing > 0
    (unknown,) = [row for row in rows if row.provider_id is None]
    assert unknown.unposted_amount == EXTRA.amount and unknown.open_items_by_age == {"over-120": 1}
    for row in rows:
        assert sum(row.open_items_by_age.values()) == sum(
            row.counts.get(s, 0) for s in ("era_without_deposit", "deposit_without_era", "amount_mismatch")
        ) + row.counts.get("duplicate_deposit", 0)
        assert sum((p.deposit_amount for p in row.by_payer), Decimal(0)) == row.deposit_amount
