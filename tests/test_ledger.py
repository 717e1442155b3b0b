"""The matching core, driven directly (no broker): rules §3, §4 (WO/FB/72/L6), §5 and §8."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from schemas import Remittance
from streams.domain.cash import invariant_holds
from streams.domain.ledger import ProviderLedger, apply_remittance, cash_row
from streams.domain.ledger_records import ledger_from_records, records_to_write
from tests.support.builders import PROVIDER, claim, plb, remittance


def run(*remittances: Remittance) -> tuple[ProviderLedger, dict]:
    ledger = ProviderLedger(provider_id=PROVIDER)
    latest = {}
    for r in remittances:
        update = apply_remittance(ledger, r)
        for t in update.takebacks:
            latest[t.event_id] = t
    return ledger, latest


def only(takebacks: dict):
    assert len(takebacks) == 1, takebacks
    return next(iter(takebacks.values()))


ORIGINAL = remittance("CHK100", "2026-01-10", [claim("PCN1", "1", "100.00", charge="150", pcn="ICN1")])
LATER_REVERSAL = remittance(
    "EFT200",
    "2026-02-01",
    [
        claim("PCN1", "22", "-100.00", charge="-150", pcn="ICN1", cas=[("CO", "45", "-50")]),
        claim("PCN1", "1", "80.00", charge="150", pcn="ICN1B", f8="ICN1", cas=[("CO", "18", "70")]),
        claim("PCN2", "1", "60.00", pcn="ICN2"),
    ],
)


def test_reversal_in_a_later_payment_is_a_recoupment_by_offset_linked_to_the_original() -> None:
    _, takebacks = run(ORIGINAL, LATER_REVERSAL)
    t = only(takebacks)
    assert (t.kind, t.method, t.amount) == ("recoupment", "offset", Decimal("100.00"))
    assert t.original_trace_number == "CHK100"
    assert t.trace_number == "EFT200"
    assert t.claim_id == "PCN1"
    assert t.correction_payment == Decimal("80.00")
    assert t.net_change == Decimal("-20.00")
    assert t.reason_category == "duplicate"  # the correction's CO-18
    assert "CO-45" in t.reason_codes and "CO-18" in t.reason_codes


def test_reversal_and_original_in_the_same_remittance_is_a_reversal() -> None:
    same = remittance(
        "EFT300",
        "2026-03-01",
        [
            claim("PCN9", "1", "90.00", pcn="ICN9"),
            claim("PCN9", "22", "-90.00", pcn="ICN9"),
            claim("PCN9", "1", "95.00", pcn="ICN9"),
        ],
    )
    _, takebacks = run(same)
    t = only(takebacks)
    assert (t.kind, t.method) == ("reversal", "none")
    assert t.net_change == Decimal("5.00")
    assert t.reason_category == "payer_correction"


def test_takeback_dated_before_the_originals_effective_date_is_a_reversal() -> None:
    original = remittance("CHK1", "2026-05-08", [claim("PCN5", "1", "40.00", pcn="ICN5")], effective="2026-05-20")
    early = remittance("CHK2", "2026-05-10", [claim("PCN5", "22", "-40.00", pcn="ICN5"), claim("X", "1", "50")])
    _, takebacks = run(original, early)
    assert only(takebacks).kind == "reversal"


def test_original_that_moved_no_money_makes_a_reversal() -> None:
    original = remittance("CHK1", "2026-01-01", [claim("PCN5", "1", "40.00", pcn="ICN5")], handling="H")
    later = remittance("CHK2", "2026-02-01", [claim("PCN5", "22", "-40.00", pcn="ICN5"), claim("X", "1", "50")])
    _, takebacks = run(original, later)
    assert only(takebacks).kind == "reversal"


def test_duplicate_remittance_is_not_applied_twice_and_re_emits_its_events() -> None:
    ledger = ProviderLedger(provider_id=PROVIDER)
    apply_remittance(ledger, ORIGINAL)
    first = apply_remittance(ledger, LATER_REVERSAL)
    again = apply_remittance(ledger, LATER_REVERSAL)
    assert again.outcome == "duplicate"
    assert [t.model_dump() for t in again.takebacks] == [t.model_dump() for t in first.takebacks]
    assert again.cash == first.cash


def test_orphan_is_a_recoupment_without_original_then_revised_when_the_original_arrives() -> None:
    ledger = ProviderLedger(provider_id=PROVIDER)
    first = apply_remittance(ledger, LATER_REVERSAL).takebacks[0]
    assert (first.kind, first.original_trace_number, first.revision) == ("recoupment", None, 1)
    assert "original_not_found" in first.flags
    second = apply_remittance(ledger, ORIGINAL).takebacks[0]
    assert second.event_id == first.event_id
    assert second.revision == 2
    assert second.original_trace_number == "CHK100"
    assert "original_not_found" not in second.flags


def test_every_arrival_order_gives_the_same_takebacks_and_cash() -> None:
    deferral = remittance(
        "EFT400",
        "2026-03-01",
        [claim("PCN3", "1", "10.00", pcn="ICN3")],
        [plb("WO", "-20.00", "ICN1"), plb("L6", "-1.50")],
    )
    settle = remittance("EFT500", "2026-04-01", [claim("PCN4", "1", "70.00", pcn="ICN4")], [plb("WO", "20.00", "ICN1")])
    inputs = [ORIGINAL, LATER_REVERSAL, deferral, settle]
    baseline_ledger, baseline = run(*inputs)
    strip = lambda ts: {k: v.model_dump(exclude={"revision"}) for k, v in ts.items() if not v.withdrawn}  # noqa: E731
    for order in itertools.permutations(inputs):
        ledger, takebacks = run(*order)
        assert strip(takebacks) == strip(baseline), order
        assert ledger.state().cash == baseline_ledger.state().cash


def test_wo_positive_is_a_recoupment_linked_to_the_claim_it_names() -> None:
    recovery = remittance("EFT600", "2026-03-01", [claim("PCN7", "1", "300")], [plb("WO", "100.00", "ICN1 PATIENTX")])
    _, takebacks = run(ORIGINAL, recovery)
    t = only(takebacks)
    assert (t.kind, t.method, t.plb_reason_code) == ("recoupment", "offset", "WO")
    assert (t.claim_id, t.original_trace_number) == ("PCN1", "CHK100")
    assert t.reason_category == "overpayment_recovery"


def test_wo_with_72_is_a_recoupment_settled_by_refund() -> None:
    refund = remittance(
        "EFT700", "2026-03-01", [claim("PCN7", "1", "300")], [plb("WO", "55", "FCN9"), plb("72", "-55", "FCN9")]
    )
    ledger, takebacks = run(refund)
    t = only(takebacks)
    assert (t.kind, t.method, t.amount) == ("recoupment", "refund", Decimal("55"))
    cash = cash_row(ledger)
    assert (cash.recouped, cash.refunds, cash.net_cash) == (Decimal("55"), Decimal("55"), Decimal("300"))


def test_forward_balance_carry_and_settle_is_never_a_takeback() -> None:
    carry = remittance(
        "EFT800",
        "2026-03-01",
        [claim("PCN1", "22", "-100.00", pcn="ICN1"), claim("PCN8", "1", "30")],
        [plb("FB", "-70", "EFT800")],
    )
    settle = remittance("EFT900", "2026-04-01", [claim("PCN9", "1", "200")], [plb("FB", "70", "EFT800")])
    ledger, takebacks = run(ORIGINAL, carry)
    assert cash_row(ledger).forward_balance == Decimal("70")
    assert cash_row_ok(ledger)
    ledger, takebacks = run(ORIGINAL, carry, settle)
    assert [t.plb_reason_code for t in takebacks.values()] == [None]  # only the claim reversal
    assert cash_row(ledger).forward_balance == Decimal("0")
    assert cash_row(ledger).net_cash == Decimal("100") + Decimal("130")


def test_wo_after_fb_for_the_same_claim_settles_instead_of_counting_twice() -> None:
    carry = remittance(
        "EFT800", "2026-03-01", [claim("PCN1", "22", "-100.00", pcn="ICN1")], [plb("FB", "-100", "ICN1")]
    )
    collect = remittance("EFT900", "2026-04-01", [claim("PCN9", "1", "200")], [plb("WO", "100", "ICN1")])
    ledger, takebacks = run(ORIGINAL, carry, collect)
    assert len(takebacks) == 1
    assert cash_row(ledger).recouped == Decimal("100")
    assert cash_row(ledger).forward_balance == Decimal("0")


def test_interest_is_never_a_takeback_and_counts_as_other_adjustment() -> None:
    interest = remittance("EFT1", "2026-03-01", [claim("PCN7", "1", "300")], [plb("L6", "-4.25")])
    ledger, takebacks = run(interest)
    assert takebacks == {}
    assert cash_row(ledger).other_adjustments == Decimal("4.25")
    assert cash_row_ok(ledger)


def cash_row_ok(ledger: ProviderLedger) -> bool:
    from streams.domain.ledger import cash_row

    row = cash_row(ledger)
    return invariant_holds(row) and all(invariant_holds(p) for p in row.by_payer)


def test_cash_invariant_holds_for_every_provider_and_payer_row() -> None:
    deferral = remittance("EFT400", "2026-03-01", [claim("PCN3", "1", "10.00")], [plb("WO", "-20.00", "ICN1")])
    ledger, _ = run(ORIGINAL, LATER_REVERSAL, deferral)
    assert cash_row_ok(ledger)


def test_cs_payer_write_off_settles_a_deferred_recovery_without_cash_or_takeback() -> None:
    deferral = remittance("EFT1", "2026-03-01", [claim("PCN3", "1", "50")], [plb("WO", "-30", "ICN1")])
    forgiven = remittance(
        "EFT2", "2026-04-01", [claim("PCN4", "1", "70")], [plb("WO", "30", "ICN1"), plb("CS", "-30", "PAYER WRITE OFF")]
    )
    ledger, takebacks = run(deferral, forgiven)
    assert takebacks == {}
    cash = cash_row(ledger)
    assert cash.forward_balance == Decimal("0")
    assert cash.net_cash == Decimal("80") + Decimal("70")
    assert cash_row_ok(ledger)


def test_b2_check_pays_a_forward_balance_as_a_refund() -> None:
    carry = remittance("EFT1", "2026-03-01", [claim("PCN1", "22", "-100", pcn="ICN1")], [plb("FB", "-100", "EFT1")])
    paid = remittance(
        "EFT2", "2026-04-01", [claim("PCN4", "1", "70")], [plb("FB", "100", "EFT1"), plb("B2", "-100", "EFT1")]
    )
    ledger, _ = run(ORIGINAL, carry, paid)
    cash = cash_row(ledger)
    assert (cash.forward_balance, cash.refunds) == (Decimal("0"), Decimal("100"))
    assert cash_row_ok(ledger)


def test_offset_named_for_another_provider_is_attributed_to_it_and_reported_for_both() -> None:
    offset = remittance(
        "EFT1", "2026-03-01", [claim("PCN7", "1", "300")], [plb("WO", "40", "ICN99", provider="1245319599")]
    )
    _, takebacks = run(offset)
    t = only(takebacks)
    assert (t.provider_id, t.payee_provider_id) == ("1245319599", PROVIDER)
    assert "offset_against_other_provider" in t.flags


def test_reversal_without_correction_is_flagged_after_the_wait_and_unflagged_by_its_correction() -> None:
    reversal = remittance("EFT1", "2026-03-01", [claim("PCN1", "22", "-100.00", pcn="ICN1"), claim("X", "1", "150")])
    much_later = remittance("EFT2", "2026-05-01", [claim("Y", "1", "10")])
    correction = remittance("EFT3", "2026-05-02", [claim("PCN1", "1", "90.00", pcn="ICN1")])
    _, takebacks = run(ORIGINAL, reversal, much_later)
    assert "correction_overdue" in only(takebacks).flags
    _, takebacks = run(ORIGINAL, reversal, much_later, correction)
    t = only(takebacks)
    assert "correction_overdue" not in t.flags and t.correction_payment == Decimal("90.00")


def test_deferred_out_of_order_remittances_settle_to_the_in_order_result() -> None:
    """The match agent defers re-derivation to the end of a batch (a backfill costs one per batch)."""
    from streams.domain.ledger import settle

    deferral = remittance("EFT400", "2026-03-01", [claim("PCN3", "1", "10.00")], [plb("WO", "-20.00", "ICN1")])
    settle_wo = remittance("EFT500", "2026-04-01", [claim("PCN4", "1", "70.00")], [plb("WO", "20.00", "ICN1")])
    inputs = [ORIGINAL, LATER_REVERSAL, deferral, settle_wo]
    baseline_ledger, baseline = run(*inputs)
    live = lambda ts: {k: v.model_dump(exclude={"revision"}) for k, v in ts.items() if not v.withdrawn}  # noqa: E731
    for order in itertools.permutations(inputs):
        ledger = ProviderLedger(provider_id=PROVIDER)
        latest = {}
        updates = [apply_remittance(ledger, r, defer=True) for r in order]
        settled = settle(ledger)
        for update in [*updates, *([settled] if settled else [])]:
            latest.update({t.event_id: t for t in update.takebacks})
        assert live(latest) == live(baseline), order
        assert ledger.state().cash == baseline_ledger.state().cash
        assert any(u.deferred for u in updates) == (settled is not None)


def test_the_claim_index_keeps_every_payment_under_a_key_oldest_first() -> None:
    from decimal import Decimal

    from streams.domain.claim_index import ClaimIndex, PaymentRecord
    from streams.domain.facts import ClaimFact, facts_from_dict

    facts = facts_from_dict(
        {
            "remittance_id": "r1",
            "trace_number": "t1",
            "payer": {"id": "P1"},
            "payee": {"id": PROVIDER},
            "payment": {"amount": "0", "handling_code": "H"},
        }
    )
    records = [PaymentRecord(facts, ClaimFact("C1", "1", Decimal(n)), n) for n in range(3)]
    index = ClaimIndex()
    assert index.get(("P1", "C1")) == []
    for record in records:
        index.add(("P1", "C1"), record)
    index.add(("P2", "C1"), records[0])
    assert index.get(("P1", "C1")) == records
    assert index.get(("P2", "C1")) == [records[0]] and index.get(("P3", "C1")) == []


def test_a_reissued_payment_counts_once_as_its_later_version_in_any_order() -> None:
    """Rules §2: same payer, TRN02, payee, BPR02 and BPR16 but another body is one payment, held as its later version.

    Here the payer re-sent EFT300 without the reversal of PCN1 it first carried: the takeback only the replaced
    version produced is withdrawn, the money counts once, both versions are counted as `reissued`."""
    first = remittance(
        "EFT300", "2026-02-01", [claim("PCN1", "22", "-100.00", pcn="ICN1"), claim("PCN5", "1", "150.00", pcn="ICN5")]
    )
    reissue = remittance("EFT300", "2026-02-01", [claim("PCN5", "1", "50.00", pcn="ICN5")])
    first.generated_at = dt.datetime(2026, 2, 1, 9, 0)
    reissue.generated_at = dt.datetime(2026, 2, 3, 9, 0)
    assert first.payment.amount == reissue.payment.amount and first.remittance_id != reissue.remittance_id

    ledger, takebacks = run(ORIGINAL, first)
    assert only(takebacks).claim_id == "PCN1"
    update = apply_remittance(ledger, reissue)
    assert [(t.claim_id, t.withdrawn) for t in update.takebacks] == [("PCN1", True)]
    row = cash_row(ledger)
    assert (row.net_cash, row.claim_payments, row.recouped) == (Decimal("150.00"), Decimal("150.00"), Decimal("0"))
    assert row.flags.get("reissued") == 2 and "reused_trace_number" not in row.flags
    assert apply_remittance(ledger, first).outcome == "duplicate"
    assert cash_row(ledger) == row

    other_order, later_takebacks = run(ORIGINAL, reissue, first)
    assert [t for t in later_takebacks.values() if not t.withdrawn] == []
    assert cash_row(other_order).model_dump(exclude={"revision"}) == row.model_dump(exclude={"revision"})

    stored = dict(records_to_write(ledger))
    restored = ledger_from_records(stored[PROVIDER.encode()], stored.get)
    assert cash_row(restored) == row


def test_zero_pay_remittances_reusing_a_trace_number_stay_separate() -> None:
    """Rules §2: only payments that moved money can be re-issues; a reused zero-pay TRN02 is flagged, both applied."""
    denial = remittance("0", "2026-02-01", [claim("PCN8", "4", "0")])
    other = remittance("0", "2026-02-02", [claim("PCN9", "4", "0")], effective="2026-02-01")
    ledger, _ = run(denial, other)
    assert cash_row(ledger).flags == {"reused_trace_number": 1}
    assert len(ledger.state().payments_by_claim_id.get((denial.payer.id, "PCN9"))) == 1
