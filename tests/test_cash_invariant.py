"""The cash invariant (rules §8) on every row a ledger publishes, for any mix of ERAs in any arrival order.

    net_cash = claim_payments - reversed - recouped + forward_balance + refunds + other_adjustments
               - not_moved + unexplained

The mixes are `era_mix` streams (reversals, corrections, WO, FB, L6, re-sends) with the cases rules §2 and §7 treat
apart mixed in: payments whose BPR01 says no money moved, re-issued payments, and unbalanced remittances a person
accepted. Every cash row is checked (the provider's and each payer's), after every remittance, not only the last.
"""

from __future__ import annotations

import re
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import NetCashRow, Remittance
from streams.domain.cash import invariant_holds
from streams.domain.ledger import ProviderLedger, apply_remittance
from streams.domain.offline import apply_all, read_files
from streams.domain.x12 import read_835
from streams.samples import CORPUS_DIR
from tests.support.era_mix import era_stream

MUTATIONS = ("as_sent", "not_moved", "reissued", "unbalanced_accepted")
FIRST_BPR = re.compile(rb"BPR\*I\*([0-9.]+)\*")


def broken_rows(row: NetCashRow) -> list[str]:
    rows = [(row.provider_id, row)] + [(f"{row.provider_id}/{p.payer_id}", p) for p in row.by_payer]
    return [f"{name}: {r.model_dump(mode='json')}" for name, r in rows if not invariant_holds(r)]


def mutated(data: bytes, mutation: str) -> list[tuple[bytes, bool]]:
    """The inputs one era_mix file becomes: (bytes, read as an accepted dead letter)."""
    if mutation == "not_moved":  # BPR01 H with the amount still there (rules §7)
        return [(data.replace(b"BPR*I*", b"BPR*H*", 1), False)]
    if mutation == "reissued":  # the same payments, generated an hour later with the payer's name changed (§2)
        later = data.replace(b"*1200*", b"*1300*", 2).replace(b"N1*PR*PAYER ", b"N1*PR*THE PAYER ")
        return [(data, False), (later, False)]
    if mutation == "unbalanced_accepted":  # the first payment is 1.00 over what it explains (rules §7)
        match = FIRST_BPR.search(data)
        if match is None:
            return [(data, False)]
        over = Decimal(match.group(1).decode()) + 1
        return [(data[: match.start(1)] + str(over).encode() + data[match.end(1) :], True)]
    return [(data, False)]


def remittances_of(data: bytes, accepted: bool) -> list[Remittance]:
    """Read an input; an accepted one goes the way `dead-letters replay --accept` sends it: set by set."""
    result = read_835(data, file="mix.835")
    remittances = list(result.remittances)
    for letter in result.dead_letters:
        assert letter.error_code == "unbalanced_remittance" and accepted, letter.message
        again = read_835(letter.raw.encode("latin-1"), accepted_dead_letter=letter.dead_letter_id)
        assert not again.dead_letters, [d.message for d in again.dead_letters]
        remittances.extend(again.remittances)
    return remittances


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(seed=st.integers(0, 100_000), data=st.data())
def test_every_cash_row_of_every_update_satisfies_the_invariant(seed: int, data: st.DataObject) -> None:
    files = [content for _, content in era_stream(1200, providers=3, seed=seed)]
    inputs = [i for content in files for i in mutated(content, data.draw(st.sampled_from(MUTATIONS)))]
    remittances = [
        r for content, accepted in data.draw(st.permutations(inputs)) for r in remittances_of(content, accepted)
    ]
    ledgers: dict[str, ProviderLedger] = {}
    for remittance in remittances:
        ledger = ledgers.setdefault(remittance.provider_id, ProviderLedger(provider_id=remittance.provider_id))
        update = apply_remittance(ledger, remittance)
        assert update.cash is not None
        assert not broken_rows(update.cash), broken_rows(update.cash)


def test_money_not_moved_in_the_corpus_keeps_the_invariant() -> None:
    """The corpus's BPR01 H file reports 5.75 paid; without its PLB (which makes it unbalanced) it is applied:
    its claims count, none of it is cash, and the 5.75 shows as not moved (rules §7, §8)."""
    name = "oopfactory_835_4010_bom_indented_reversals_denials_plb_cv.txt"
    data = re.sub(rb"\s*PLB\*[^~]*~", b"", (CORPUS_DIR / name).read_bytes())
    data = data.replace(b"SE*97*", b"SE*96*")
    result = read_835(data, file=name)
    assert not result.dead_letters, [d.message for d in result.dead_letters]
    (remittance,) = result.remittances
    assert remittance.flags == ["payment_not_moved"]
    (row,) = apply_all(result.remittances).net_cash.values()
    assert (row.net_cash, row.not_moved) == (Decimal("0"), Decimal("5.75"))
    assert row.claim_payments == Decimal("135.09") and row.reversed + row.recouped == Decimal("129.34")
    assert row.flags["payment_not_moved"] == 1
    assert not broken_rows(row)


def test_the_corpus_read_offline_keeps_the_invariant() -> None:
    remittances, _ = read_files(sorted(CORPUS_DIR.iterdir()))
    for row in apply_all(remittances).net_cash.values():
        assert not broken_rows(row), broken_rows(row)
