"""The reassociation matcher (rules §10) on hand-built facts, and the banking-day calendar it counts in."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from schemas import Deposit, Remittance, SourceRef, Takeback
from streams.domain.bank.business_days import (
    add_business_days,
    business_days_between,
    federal_reserve_holidays,
    is_business_day,
)
from streams.domain.bank.matcher import DepositMatcher, PartitionClock, ReassociationInput
from streams.domain.bank.position import positions
from streams.domain.bank.reassociation import (
    RouteState,
    TakebackFact,
    explaining_takebacks,
    route_of,
)
from streams.domain.cash import AGE_BUCKETS, age_bucket
from tests.support.builders import PAYER, PROVIDER, claim, plb, remittance

D = dt.date.fromisoformat


def deposit(trace: str | None, amount: str, date: str, *, bank_ref: str = "B1", **fields: object) -> Deposit:
    values: dict = {
        "deposit_id": f"dep-{trace}-{amount}-{date}-{bank_ref}",
        "source": SourceRef(file="bank.ach", line=3),
        "format": "nacha",
        "amount": Decimal(amount),
        "trace_number": trace,
        "payer_id": PAYER if trace else None,
        "effective_date": D(date),
        "bank_reference": bank_ref,
    }
    return Deposit(**(values | fields))


def era(trace: str, paid: str, date: str, *, effective: str | None = None, **kw: object) -> Remittance:
    return remittance(trace, date, [claim(f"PCN-{trace}", "1", paid, pcn=f"ICN-{trace}")], effective=effective, **kw)


def takeback(event_id: str, of: Remittance, amount: str, *, revision: int = 1, withdrawn: bool = False) -> Takeback:
    return Takeback(
        event_id=event_id,
        revision=revision,
        kind="recoupment",
        method="offset",
        amount=Decimal(amount),
        provider_id=PROVIDER,
        payee_provider_id=PROVIDER,
        payer_id=PAYER,
        trace_number=of.trace_number,
        remittance_id=of.remittance_id,
        reason_category="overpayment_recovery",
        withdrawn=withdrawn,
    )


def statuses(matcher: DepositMatcher) -> dict[str | None, str]:
    return {r.trace_number or r.deposit_id: r.status for r in matcher.current() if r.status != "duplicate_deposit"}


# --------------------------------------------------------------------------- banking days


def test_federal_reserve_holidays_2026() -> None:
    assert sorted(federal_reserve_holidays(2026)) == [
        D("2026-01-01"),
        D("2026-01-19"),
        D("2026-02-16"),
        D("2026-05-25"),
        D("2026-06-19"),
        D("2026-09-07"),  # no July 3: July 4 is a Saturday, and the Fed does not close the Friday before
        D("2026-10-12"),
        D("2026-11-11"),
        D("2026-11-26"),
        D("2026-12-25"),
    ]


def test_a_sunday_holiday_moves_to_monday() -> None:
    assert D("2027-07-05") in federal_reserve_holidays(2027)  # July 4, 2027 is a Sunday
    assert not is_business_day(D("2027-07-05"))


def test_business_days_skip_weekends_and_holidays() -> None:
    assert add_business_days(D("2026-01-14"), 3) == D("2026-01-20")  # Thu, Fri, (MLK Monday), Tue
    assert add_business_days(D("2026-01-17"), 1) == D("2026-01-20")  # from a Saturday
    assert add_business_days(D("2026-01-14"), 0) == D("2026-01-14")
    assert business_days_between(D("2026-01-14"), D("2026-01-20")) == 3
    assert business_days_between(D("2026-01-20"), D("2026-01-14")) == -3


# --------------------------------------------------------------------------- outcomes


def test_matched_and_idempotent_redelivery() -> None:
    matcher = DepositMatcher()
    payment = era("EFT1", "300", "2026-01-09", effective="2026-01-12")
    first = matcher.add_remittance(payment)
    assert [r.status for r in first.records] == ["awaiting_deposit"]
    assert first.records[0].due_date == D("2026-01-15")
    matched = matcher.add_deposit(deposit("EFT1", "300.00", "2026-01-12"))
    (record,) = matched.records
    assert (record.status, record.revision, record.difference) == ("matched", 2, Decimal(0))
    again = matcher.add_deposit(deposit("EFT1", "300.00", "2026-01-12"))
    assert again.outcome == "duplicate" and again.records == [record]
    assert matcher.add_remittance(payment).outcome == "duplicate"
    assert matcher.current() == [record]


def test_era_without_deposit_only_once_stream_time_passes_the_due_date() -> None:
    matcher = DepositMatcher()
    matcher.add_remittance(era("EFT1", "150", "2026-01-09", effective="2026-01-12"))
    assert matcher.advance_to(D("2026-01-15")) == []  # due date itself: not late yet
    (late,) = matcher.advance_to(D("2026-01-16"))
    assert (late.status, late.revision, late.due_date) == ("era_without_deposit", 2, D("2026-01-15"))
    assert matcher.advance_to(D("2026-01-10")) == []  # stream time never goes back


def test_the_wait_is_a_setting() -> None:
    matcher = DepositMatcher(wait_business_days=1)
    (record,) = matcher.add_remittance(era("EFT1", "150", "2026-01-09", effective="2026-01-12")).records
    assert record.due_date == D("2026-01-13")


def test_deposit_without_era_then_the_era_arrives() -> None:
    matcher = DepositMatcher()
    matcher.add_deposit(deposit("EFT1", "275.00", "2026-01-12"))
    matcher.advance_to(D("2026-01-21"))
    assert statuses(matcher) == {"EFT1": "deposit_without_era"}
    (record,) = matcher.add_remittance(era("EFT1", "275", "2026-01-22", effective="2026-01-12")).records
    assert record.status == "matched" and record.provider_id == PROVIDER and record.due_date is None


def test_amount_mismatch_names_the_takebacks_that_explain_it() -> None:
    matcher = DepositMatcher()
    payment = remittance(
        "EFT2", "2026-01-16", [claim("PCN1", "1", "500")], [plb("WO", "80"), plb("WO", "20")], effective="2026-01-20"
    )
    matcher.add_remittance(payment)
    (record,) = matcher.add_deposit(deposit("EFT2", "480.00", "2026-01-20")).records
    assert (record.status, record.era_amount, record.difference, record.explained_by) == (
        "amount_mismatch",
        Decimal(400),
        Decimal(80),
        [],
    )
    matcher.add_takeback(takeback("tb-20", payment, "20"))
    (record,) = matcher.add_takeback(takeback("tb-80", payment, "80")).records
    assert record.explained_by == ["tb-80"]
    (record,) = matcher.add_takeback(takeback("tb-80", payment, "80", revision=2, withdrawn=True)).records
    assert record.explained_by == []
    assert matcher.add_takeback(takeback("tb-80", payment, "80", revision=1)).outcome == "duplicate"


def test_explanations_are_the_smallest_set_that_adds_up() -> None:
    facts = [
        TakebackFact(event_id=f"t{n}", revision=1, remittance_id="r", amount=Decimal(a), withdrawn=False)
        for n, a in enumerate(["10", "25", "30", "35"])
    ]
    assert explaining_takebacks(Decimal("35"), facts) == ["t3"]
    assert explaining_takebacks(Decimal("65"), facts) == ["t2", "t3"]
    assert explaining_takebacks(Decimal("1"), facts) == []


def test_duplicate_deposit() -> None:
    matcher = DepositMatcher()
    matcher.add_remittance(era("EFT5", "310", "2026-01-09", effective="2026-01-12"))
    matcher.add_deposit(deposit("EFT5", "310.00", "2026-01-12", bank_ref="B1"))
    (duplicate,) = matcher.add_deposit(deposit("EFT5", "310.00", "2026-01-12", bank_ref="B2")).records
    assert duplicate.status == "duplicate_deposit" and duplicate.deposit_id == "dep-EFT5-310.00-2026-01-12-B2"
    assert sorted(r.status for r in matcher.current()) == ["duplicate_deposit", "matched"]


def test_non_payment_remittances_expect_no_deposit() -> None:
    matcher = DepositMatcher()
    denial = remittance("R1", "2026-01-05", [claim("PCN1", "4", "0", charge="500")])
    assert denial.payment.handling_code == "H"
    assert matcher.add_remittance(denial).records == []
    matcher.advance_to(D("2026-03-01"))
    assert matcher.current() == []
    (record,) = matcher.add_deposit(deposit("R1", "10.00", "2026-03-01")).records  # money nobody announced
    assert record.status == "amount_mismatch" and "era_moved_no_money" in record.flags


def test_reissued_remittances_count_once_and_split_eras_add_up() -> None:
    matcher = DepositMatcher()
    original = era("EFT1", "100", "2026-01-09", effective="2026-01-12")
    reissued = original.model_copy(update={"remittance_id": "reissued", "body_hash": "other"})
    matcher.add_remittance(original)
    matcher.add_remittance(reissued)
    (record,) = matcher.add_deposit(deposit("EFT1", "100.00", "2026-01-12")).records
    assert record.status == "matched" and len(record.remittance_ids) == 2
    split = original.model_copy(
        update={"remittance_id": "split", "payee": original.payee.model_copy(update={"id": "X"})}
    )
    (record,) = matcher.add_remittance(split).records
    assert record.era_amount == Decimal(200) and record.status == "amount_mismatch" and "split_era" in record.flags


def test_check_payments_match_by_check_number_not_by_payer() -> None:
    matcher = DepositMatcher()
    check = era("0000123456", "150", "2026-01-09", effective="2026-01-12")
    check.payment.method = "CHK"
    matcher.add_remittance(check)
    bank = deposit(None, "150.00", "2026-01-14", method="CHK", check_number="0000123456", payer_id=None)
    (record,) = matcher.add_deposit(bank).records
    assert (record.status, record.payment_method, record.trace_number) == ("matched", "CHK", "0000123456")
    ach = deposit("0000123456", "150.00", "2026-01-14")  # an EFT with the same number is another payment
    assert [r.status for r in matcher.add_deposit(ach).records] == ["awaiting_era"]


def test_a_deposit_without_trn_is_never_matched() -> None:
    matcher = DepositMatcher()
    (record,) = matcher.add_deposit(deposit(None, "99.00", "2026-01-12")).records
    assert record.status == "awaiting_era" and record.trace_number is None
    (record,) = matcher.advance_to(D("2026-01-16"))
    assert record.status == "deposit_without_era"


def test_dates_far_apart_are_flagged() -> None:
    matcher = DepositMatcher()
    matcher.add_remittance(era("EFT1", "100", "2026-01-09", effective="2026-01-12"))
    (record,) = matcher.add_deposit(deposit("EFT1", "100.00", "2026-02-12")).records
    assert record.status == "matched" and record.flags == ["date_outside_window"]


# --------------------------------------------------------------------------- order independence


def facts() -> list[object]:
    one = era("EFT1", "300", "2026-01-09", effective="2026-01-12")
    two = remittance("EFT2", "2026-01-16", [claim("PCN2", "1", "500")], [plb("WO", "80")], effective="2026-01-20")
    return [
        one,
        two,
        era("EFT3", "150", "2026-01-09", effective="2026-01-12"),
        remittance("R4", "2026-01-05", [claim("PCN4", "4", "0", charge="50")]),
        deposit("EFT1", "300.00", "2026-01-12"),
        deposit("EFT1", "300.00", "2026-01-12", bank_ref="B2"),
        deposit("EFT2", "500.00", "2026-01-20"),
        deposit("EFT9", "12.00", "2026-01-13"),
        deposit("EFT8", "12.00", "2026-01-21"),
        takeback("tb-80", two, "80"),
    ]


def run(items: list[object]) -> dict[str, dict]:
    matcher = DepositMatcher()
    for item in items:
        if isinstance(item, Remittance):
            matcher.add_remittance(item)
        elif isinstance(item, Deposit):
            matcher.add_deposit(item)
        else:
            matcher.add_takeback(item)  # type: ignore[arg-type]
    return {r.event_id: r.model_dump(exclude={"revision"}) for r in matcher.current()}


@pytest.mark.parametrize("seed", range(30))
def test_any_arrival_order_and_redelivery_gives_the_same_records(seed: int) -> None:
    baseline = run(facts())
    rng = random.Random(seed)
    items = facts() + rng.sample(facts(), 4)  # some delivered twice
    rng.shuffle(items)
    assert run(items) == baseline


def test_the_order_independent_result_is_the_one_the_rules_give() -> None:
    by_trace = {(r["trace_number"], r["status"]) for r in run(facts()).values()}
    assert by_trace == {
        ("EFT1", "matched"),
        ("EFT1", "duplicate_deposit"),
        ("EFT2", "amount_mismatch"),
        ("EFT3", "era_without_deposit"),
        ("EFT9", "deposit_without_era"),
        ("EFT8", "awaiting_era"),
    }


# --------------------------------------------------------------------------- per provider and payer


def test_positions_add_up_money_per_era_and_per_bank_with_open_items_by_age() -> None:
    matcher = DepositMatcher()
    for item in facts():
        if isinstance(item, Remittance):
            matcher.add_remittance(item)
        elif isinstance(item, Deposit):
            matcher.add_deposit(item)
    matcher.advance_to(D("2026-03-01"))
    unknown, provider = positions(matcher.current(), matcher.stream_time)
    assert provider.provider_id == PROVIDER and unknown.provider_id is None
    assert provider.era_amount == Decimal(300 + 420 + 150)  # EFT1, EFT2 (500 - WO 80), EFT3; R4 moved nothing
    assert provider.deposit_amount == Decimal(300 + 300 + 500)
    assert (provider.missing_amount, provider.mismatch_amount, provider.duplicate_amount) == (150, 80, 300)
    assert provider.counts == {"amount_mismatch": 1, "duplicate_deposit": 1, "era_without_deposit": 1, "matched": 1}
    # opened 2026-01-12 (EFT1 duplicate, EFT3: 48 days) and 2026-01-20 (EFT2: 40 days) before 2026-03-01
    assert provider.open_items_by_age == {"31-60": 3}
    assert provider.open_amount_by_age == {"31-60": Decimal(300 + 150 + 80)}
    assert provider.oldest_open_item == D("2026-01-12")
    assert [p.payer_id for p in provider.by_payer] == [PAYER]
    assert unknown.unposted_amount == Decimal(24) and unknown.by_payer[0].payer_id == PAYER
    assert age_bucket(0) == 0 and age_bucket(30) == 0 and AGE_BUCKETS[age_bucket(121)][0] == "over-120"


# --------------------------------------------------------------------------- what a stream worker stores


def test_a_route_survives_a_round_trip_through_json_and_redelivery_after_it_changes_nothing() -> None:
    payment = era("EFT1", "300", "2026-01-09", effective="2026-01-12")
    state = RouteState(route="EFT1")
    state.add(payment, None, 3)
    state.add(deposit("EFT1", "299.00", "2026-01-12"), None, 3)
    restored = RouteState.model_validate_json(state.model_dump_json())
    assert restored == state
    again = restored.add(payment, None, 3)  # the worker crashed after storing, before committing its input
    assert again.outcome == "duplicate" and again.records == list(state.records.values())
    (record,) = restored.add(deposit("EFT1", "299.00", "2026-01-12", bank_ref="B2"), None, 3).records
    assert record.status == "duplicate_deposit" and record.revision == 1


def test_routes_bring_a_payment_together_whatever_carries_it() -> None:
    payment = era("EFT1", "300", "2026-01-09")
    assert route_of(payment) == route_of(deposit("EFT1", "1", "2026-01-09")) == route_of(takeback("t", payment, "1"))
    check = deposit(None, "1", "2026-01-09", method="CHK", check_number=" 0001 ", payer_id=None)
    assert route_of(check) == "0001"
    assert route_of(deposit(None, "1", "2026-01-09")) == "dep-None-1-2026-01-09-B1"  # no TRN: its own route


def test_inputs_travel_as_json_and_a_clock_tick_moves_every_partition() -> None:
    payment = era("EFT1", "300", "2026-01-09", effective="2026-01-12")
    message = ReassociationInput.of(payment)
    assert ReassociationInput.model_validate_json(message.model_dump_json()) == message
    assert (message.route, message.date, message.era.amount) == ("EFT1", D("2026-01-09"), Decimal(300))
    matcher = DepositMatcher()
    matcher.apply(ReassociationInput.model_validate_json(message.model_dump_json()))
    (late,) = matcher.apply(ReassociationInput.tick(D("2026-01-16"))).records
    assert late.status == "era_without_deposit"


def test_a_clock_hands_back_each_fallen_route_once_and_never_goes_back() -> None:
    clock = PartitionClock(due=[(D("2026-01-15"), "A"), (D("2026-01-15"), "A"), (D("2026-01-20"), "B")])
    assert clock.advance(D("2026-01-15")) == []  # due on the 15th: late only after it
    assert clock.advance(D("2026-01-16")) == ["A"]
    assert clock.advance(D("2026-01-10")) == [] and clock.stream_time == D("2026-01-16")
    assert PartitionClock.model_validate_json(clock.model_dump_json()) == clock


OTHER_PAYER = "1512345678"


def edge_facts() -> list[object]:
    """Issue 21: sums that change as ERAs arrive, two payers' check 5001, a debit ERA, a returned credit."""
    one = era("EFT1", "300", "2026-01-09", effective="2026-01-12")
    split = era("EFT1", "100", "2026-01-09", effective="2026-01-12", provider="1000000103")
    check_a = era("5001", "150", "2026-01-09", effective="2026-01-12")
    check_b = era("5001", "275", "2026-01-09", effective="2026-01-12", payer=OTHER_PAYER)
    for check in (check_a, check_b):
        check.payment.method = "CHK"
    debit = era("EFT4", "-150", "2026-01-09", effective="2026-01-12")
    debit.payment = debit.payment.model_copy(update={"amount": Decimal(150), "credit_debit": "D", "handling_code": "I"})
    returned = deposit(None, "-180.00", "2026-01-15", bank_ref="R9", returned_trace="T5", return_reason="R01")
    return [
        one,
        split,
        deposit("EFT1", "300.00", "2026-01-12"),
        deposit("EFT1", "400.00", "2026-01-13", bank_ref="B2"),
        check_a,
        check_b,
        *[
            deposit(None, amount, date, bank_ref=ref, method="CHK", check_number="5001", payer_id=None)
            for amount, date, ref in (("275.00", "2026-01-12", "C1"), ("150.00", "2026-01-13", "C2"))
        ],
        deposit(None, "150.00", "2026-01-14", bank_ref="C3", method="CHK", check_number="5001", payer_id=None),
        debit,
        deposit("EFT4", "-150.00", "2026-01-12"),
        era("EFT5", "180", "2026-01-09", effective="2026-01-12"),
        deposit("EFT5", "180.00", "2026-01-12", bank_ref="T5"),
        returned,
    ]


@pytest.mark.parametrize("seed", range(40))
def test_the_edges_of_issue_21_give_the_same_records_in_any_order(seed: int) -> None:
    baseline = run(edge_facts())
    rng = random.Random(seed)
    items = edge_facts() + rng.sample(edge_facts(), 4)
    rng.shuffle(items)
    assert run(items) == baseline


def test_the_edges_of_issue_21_give_what_the_rules_give() -> None:
    found = sorted(
        (r["trace_number"], str(r["payer_id"]), r["status"], str(r["era_amount"]), str(r["deposit_amount"]))
        for r in run(edge_facts()).values()
    )
    assert found == [
        ("5001", OTHER_PAYER, "matched", "275", "275.00"),  # check 5001 of each payer, matched by its amount
        ("5001", PAYER, "duplicate_deposit", "150", "150.00"),  # payer PAYER's check deposited a second time
        ("5001", PAYER, "matched", "150", "150.00"),
        ("EFT1", PAYER, "duplicate_deposit", "400", "300.00"),  # 400.00 is the split ERA's sum: the match
        ("EFT1", PAYER, "matched", "400", "400.00"),
        ("EFT4", PAYER, "matched", "-150", "-150.00"),  # a debit ERA and its bank debit
        ("EFT5", PAYER, "awaiting_deposit", "180", "None"),  # the credit was returned: the ERA is open again
        ("EFT5", PAYER, "deposit_returned", "180", "180.00"),
    ]
