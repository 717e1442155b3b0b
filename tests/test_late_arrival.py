"""A late remittance applied in place (streams/domain/late_arrival.py) leaves the state a full re-derive gives.

Each test applies remittances in shuffled orders, one at a time as the match agent does, and compares the ledger
with one derived from all its facts in canonical order: the takebacks (content, not revision), what was
published, the cash row with its flags, and the internal state later remittances read. The counters show both
paths ran.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import pytest

from schemas import Remittance
from streams.domain.ids import ledger_key
from streams.domain.late_arrival import late_arrivals
from streams.domain.ledger import ProviderLedger, apply_remittance, cash_rows, settle
from streams.domain.offline import read_inputs
from tests.support.builders import claim, plb, remittance
from tests.support.era_mix import era_stream


def content(takebacks: dict) -> dict:
    return {k: t.model_dump(exclude={"revision"}) for k, t in takebacks.items() if not t.withdrawn}


def internals(ledger: ProviderLedger) -> dict:
    """What later remittances read: waiting reversals and their order, carried balances, the canonical order."""
    state = ledger.state()
    return {
        "awaiting": sorted((p.sequence, e) for e, p in state.awaiting_correction.items()),
        "carried": [
            (
                b.payer_id,
                b.reason_code,
                sorted(b.tokens),
                b.outstanding,
                b.opened,
                b.text,
                sorted(b.claims),
                b.takeback_ids,
            )
            for b in state.carried
        ],
        "roots": sorted((k, r.remittance.remittance_id, r.position) for k, r in state.claim_roots.items()),
        "overdue": sorted(state.overdue_heap),
        "order": [f.remittance_id for f in state.applied],
        "cash": state.cash,  # per payee NPI: totals, per payer, flags, last day
        "carried_changed_at": state.carried_changed_at,
    }


def assert_same_as_derived(ledger: ProviderLedger) -> None:
    derived = ProviderLedger.restored(ledger.provider_id, dict(ledger.remittances), {})
    assert content(ledger.state().takebacks) == content(derived.state().takebacks)
    assert content(ledger.emitted) == content(derived.state().takebacks)  # what was published, at its latest
    assert cash_rows(ledger) == cash_rows(derived)
    assert internals(ledger) == internals(derived)


def apply_in(order: list[Remittance], *, defer_every: int = 0) -> dict[str, ProviderLedger]:
    ledgers: dict[str, ProviderLedger] = {}
    for index, r in enumerate(order, 1):
        key = ledger_key(r.payee.id, r.payee.tin, r.payee.id_qualifier)  # sibling NPIs share one ledger (rules §5)
        ledger = ledgers.setdefault(key, ProviderLedger(provider_id=key))
        apply_remittance(ledger, r, defer=bool(defer_every))
        if defer_every and index % defer_every == 0:
            settle(ledger)
    for ledger in ledgers.values():
        settle(ledger)
    return ledgers


def late_by_a_few(remittances: list[Remittance], rng: random.Random) -> list[Remittance]:
    """Time order with one remittance in five held back a few places (a missed day re-delivered)."""
    order = remittances[:]
    for index in range(len(order) - 1, -1, -1):
        if rng.random() < 0.2:
            order.insert(min(len(order), index + rng.randint(2, 40)), order.pop(index))
    return order


@pytest.mark.parametrize("seed", [3, 8])
def test_era_mix_in_any_order_gives_the_derived_state(seed: int) -> None:
    remittances, _ = read_inputs(era_stream(2_500, providers=2, seed=seed))
    rng = random.Random(seed)
    before = (late_arrivals.late, late_arrivals.in_place)
    shuffled = remittances[:]
    rng.shuffle(shuffled)
    for order in (late_by_a_few(remittances, rng), shuffled):
        for ledger in apply_in(order).values():
            assert_same_as_derived(ledger)
    late, in_place = late_arrivals.late - before[0], late_arrivals.in_place - before[1]
    assert 0 < in_place < late  # both paths ran


PAYERS = ("1999999999", "1888888888")
SIBLINGS = ("1000000004", "1000000012")  # two NPIs of one TIN: one ledger, claim keys that collide (rules §5)
ACCOUNTS = ("A1", "A2", "A3")  # CLP01, reused across visits
CONTROL_NUMBERS = ("ICN0000000001", "ICN0000000002", "ICN0000000003", "ZZICN0000000003")  # one FCN form
AMOUNTS = ("10.00", "20.00")
PLB_AMOUNTS = (
    *(("WO", "5.00"), ("WO", "-5.00"), ("FB", "-7.00"), ("FB", "7.00"), ("J1", "3.00"), ("WU", "4.00")),
    *(("72", "-5.00"), ("L6", "-1.00"), ("CS", "-5.00")),
)


def random_claims(rng: random.Random) -> Iterator:
    for _ in range(rng.randint(1, 3)):
        account, amount = rng.choice(ACCOUNTS), rng.choice(AMOUNTS)
        pcn = rng.choice((*CONTROL_NUMBERS[:3], None))
        if rng.random() < 0.35:  # a reversal, sometimes of a claim paid later or never
            yield claim(account, "22", f"-{amount}", pcn=pcn)
        else:
            f8 = rng.choice((*CONTROL_NUMBERS[:3], None, None))
            yield claim(account, "1", amount, pcn=pcn, f8=f8)


def random_adjustments(rng: random.Random) -> Iterator:
    references = (*CONTROL_NUMBERS, *ACCOUNTS, "T3")
    for _ in range(rng.choice((0, 0, 1, 2))):
        code, amount = rng.choice(PLB_AMOUNTS)
        reference = "PAYER WRITE OFF" if code == "CS" else rng.choice(references)
        yield plb(code, amount, reference)


def random_remittances(rng: random.Random, count: int) -> list[Remittance]:
    """Few accounts and control numbers, two payers, two sibling payees, dates across the correction wait: keys collide
    often."""
    start = dt.date(2026, 1, 1)
    made = []
    for n in range(count):
        day = start + dt.timedelta(days=rng.randint(0, 90))
        made.append(
            remittance(
                f"T{n}",
                day.isoformat(),
                list(random_claims(rng)),
                list(random_adjustments(rng)),
                payer=rng.choice(PAYERS),
                provider=rng.choice(SIBLINGS),
                tin="910000099",
            )
        )
    return made


def test_colliding_claims_reversals_and_carried_balances_in_any_order_give_the_derived_state() -> None:
    rng = random.Random(15)
    before = (late_arrivals.late, late_arrivals.in_place)
    for _ in range(150):
        remittances = random_remittances(rng, rng.randint(4, 14))
        for _ in range(3):
            order = remittances[:]
            rng.shuffle(order)
            for ledger in apply_in(order).values():
                assert_same_as_derived(ledger)
        for ledger in apply_in(order, defer_every=3).values():
            assert_same_as_derived(ledger)
    late, in_place = late_arrivals.late - before[0], late_arrivals.in_place - before[1]
    assert 0 < in_place < late


def applied_in_place(*order: Remittance) -> tuple[ProviderLedger, bool]:
    """Apply in the order given; whether the last one, a late one, was applied in place."""
    ledger = ProviderLedger(provider_id=order[0].provider_id)
    for r in order[:-1]:
        apply_remittance(ledger, r)
    before = late_arrivals.in_place
    apply_remittance(ledger, order[-1])
    return ledger, late_arrivals.in_place > before


def test_a_late_reversal_of_a_payment_a_later_one_reversed_by_another_key_re_derives() -> None:
    paid = remittance("T1", "2026-01-01", [claim("A1", "1", "20.00", pcn="ICN1")])
    late = remittance("T2", "2026-01-10", [claim("A2", "22", "-20.00", pcn="ICN1")])  # finds it by CLP07
    later = remittance("T3", "2026-01-20", [claim("A1", "22", "-20.00")])  # finds it by CLP01 and amount
    ledger, in_place = applied_in_place(paid, later, late)
    assert not in_place
    assert_same_as_derived(ledger)


def test_a_late_correction_of_a_reversal_a_later_one_corrected_by_another_key_re_derives() -> None:
    reversal = remittance("T1", "2026-01-01", [claim("A1", "22", "-20.00", pcn="ICN1")])  # waits for its correction
    late = remittance("T2", "2026-01-10", [claim("A1", "1", "20.00")])  # by CLP01, within the wait
    later = remittance("T3", "2026-01-20", [claim("A3", "1", "20.00", f8="ICN1")])  # by REF*F8
    ledger, in_place = applied_in_place(reversal, later, late)
    assert not in_place
    assert_same_as_derived(ledger)


def test_a_late_payment_naming_a_carried_balance_re_derives() -> None:
    carried = remittance("T1", "2026-01-01", [claim("A9", "1", "10.00", pcn="ICN9")], [plb("FB", "-7.00", "ICN1")])
    late = remittance("T2", "2026-01-10", [claim("A1", "1", "20.00", pcn="ICN1")])  # the claim the balance names
    later = remittance("T3", "2026-01-20", [claim("A2", "1", "20.00", pcn="ICN2")], [plb("WO", "7.00", "ICN2")])
    ledger, in_place = applied_in_place(carried, later, late)
    assert not in_place
    assert_same_as_derived(ledger)


def test_a_late_payment_of_other_claims_is_applied_in_place() -> None:
    paid = remittance("T1", "2026-01-01", [claim("A1", "1", "20.00", pcn="ICN1")], [plb("L6", "-1.00")])
    late = remittance("T2", "2026-01-10", [claim("A2", "1", "30.00", pcn="ICN2")], [plb("J1", "3.00", "ICN1")])
    later = remittance("T3", "2026-01-20", [claim("A3", "22", "-20.00", pcn="ICN3")])  # waits, and is overdue
    ledger, in_place = applied_in_place(paid, remittance("T4", "2026-03-01"), later, late)
    assert in_place
    assert_same_as_derived(ledger)


def test_a_late_reversal_takes_a_correction_naming_two_waiting_reversals_first_as_in_canonical_order() -> None:
    later = remittance("T3", "2026-01-20", [claim("A2", "22", "-20.00", pcn="ICN2")])
    late = remittance("T2", "2026-01-10", [claim("A1", "22", "-20.00")])
    correction = remittance("T4", "2026-01-25", [claim("A1", "1", "20.00", pcn="ICN2")])  # names both
    ledger, in_place = applied_in_place(later, late)
    assert in_place
    apply_remittance(ledger, correction)
    assert_same_as_derived(ledger)
    corrected = [t for t in ledger.state().takebacks.values() if t.correction_claim_id]
    assert [t.remittance_id for t in corrected] == [late.remittance_id]
