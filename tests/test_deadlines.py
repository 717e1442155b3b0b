"""Deadlines, look-back limits, interest, money taken twice and the forecast (rules §11, §13), on the domain alone.

Expectations come from the cited rules: Medicare's §935 days counted from day 1, state limits from the shipped
table, 42 CFR 405.378's 30-day periods on a 360-day year.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from streams.domain.deadlines.clocks import day_one, deadlines_for, next_deadline
from streams.domain.deadlines.forecast import CarriedItem, expected_offset_on, forecast
from streams.domain.deadlines.interest import medicare_interest
from streams.domain.deadlines.lookback import LookbackOutcome, check_lookback
from streams.domain.deadlines.payer_kind import payer_kind_of
from streams.domain.deadlines.recovered_twice import Recovery, recovered_twice
from streams.domain.deadlines.rule_tables import PayerKind, RuleTableError, load_rule_book

BOOK = load_rule_book()
D = dt.date
MEDICARE = payer_kind_of(["1999999999"], ["MB"], BOOK)


def test_every_shipped_rule_has_a_citation_a_link_and_a_date_checked():
    sources = [limit.source for limit in BOOK.state_limits.values()]
    sources += [d.source for rows in BOOK.kind_deadlines.values() for d in rows]
    sources += [rate.source for rate in BOOK.interest_rates]
    assert sources
    assert all(s.citation and s.url.startswith("http") and s.checked_on.year >= 2026 for s in sources)


def test_a_row_without_a_source_does_not_load(tmp_path: Path):
    profiles = tmp_path / "payers.csv"
    profiles.write_text(
        "payer_id,name,kind,dispute_days,offset_days,appeal_days,citation,source_url,checked_on\n"
        "1234567890,ACME HEALTH,commercial,30,45,,,,2026-12-01\n"
    )
    with pytest.raises(RuleTableError, match="line 2"):
        load_rule_book(payer_profiles=profiles)


def test_an_operator_profile_gives_the_payer_its_own_clocks(tmp_path: Path):
    profiles = tmp_path / "payers.csv"
    profiles.write_text(
        "payer_id,name,kind,dispute_days,offset_days,appeal_days,citation,source_url,checked_on\n"
        "1234567890,ACME HEALTH,commercial,30,45,180,Provider agreement § 7.2,,2026-12-01\n"
    )
    book = load_rule_book(payer_profiles=profiles)
    found = payer_kind_of(["1234567890"], ["MB"], book)  # the profile wins over CLP06
    assert (found.kind, found.how) == (PayerKind.commercial, "payer profile")
    clocks = deadlines_for(found, D(2026, 3, 1), book)
    assert [(c.deadline_kind, c.act_by) for c in clocks] == [
        ("dispute_notice", D(2026, 3, 30)),
        ("payer_offset", D(2026, 4, 14)),
        ("payer_appeal", D(2026, 8, 27)),
    ]


def test_medicare_is_recognised_from_the_claim_filing_indicator_without_configuration():
    assert MEDICARE.kind is PayerKind.medicare and "CLP06 = MB" in MEDICARE.how
    assert payer_kind_of(["1"], ["MC"], BOOK).kind is PayerKind.medicaid
    assert payer_kind_of(["1"], ["CI"], BOOK).kind is PayerKind.commercial
    unknown = payer_kind_of(["1"], [None, "ZZ"], BOOK)
    assert unknown.kind is None and deadlines_for(unknown, D(2026, 1, 1), BOOK) == []


def test_medicare_clocks_count_the_first_day_as_day_one():
    clocks = deadlines_for(MEDICARE, D(2026, 1, 1), BOOK)
    assert [(c.deadline_kind, c.day, c.act_by) for c in clocks] == [
        ("medicare_rebuttal", 15, D(2026, 1, 15)),
        ("medicare_stop_recoupment", 30, D(2026, 1, 30)),
        ("medicare_offset", 41, D(2026, 2, 10)),
        ("medicare_redetermination", 120, D(2026, 4, 30)),
    ]
    assert all("1893" in c.source.citation or "405.942" in c.source.citation for c in clocks)
    assert next_deadline(clocks, D(2026, 1, 20)).deadline_kind == "medicare_stop_recoupment"
    assert next_deadline(clocks, D(2026, 1, 30)).days_left(D(2026, 1, 30)) == 0
    assert next_deadline(clocks, D(2026, 5, 1)) is None


def test_a_provider_void_is_not_a_medicare_demand():
    assert deadlines_for(MEDICARE, D(2026, 1, 1), BOOK, provider_void=True) == []


def test_a_letter_date_a_person_entered_is_day_one():
    assert day_one(D(2026, 1, 20), None) == D(2026, 1, 20)
    assert day_one(D(2026, 1, 20), D(2026, 1, 5)) == D(2026, 1, 5)


@pytest.mark.parametrize(
    ("kind", "state", "paid", "recouped", "outcome"),
    [
        (PayerKind.commercial, "CA", D(2025, 1, 10), D(2026, 1, 10), LookbackOutcome.inside),  # day 365
        (PayerKind.commercial, "CA", D(2025, 1, 10), D(2026, 1, 11), LookbackOutcome.beyond),
        (PayerKind.commercial, "tx", D(2025, 1, 1), D(2025, 7, 1), LookbackOutcome.beyond),  # 181 days
        (PayerKind.commercial, "NY", D(2024, 2, 29), D(2026, 2, 28), LookbackOutcome.inside),  # 24 months
        (PayerKind.commercial, "NY", D(2024, 2, 29), D(2026, 3, 1), LookbackOutcome.beyond),
        (PayerKind.commercial, "AK", D(2015, 1, 1), D(2026, 1, 1), LookbackOutcome.no_limit),
        (PayerKind.commercial, "PA", D(2015, 1, 1), D(2026, 1, 1), LookbackOutcome.no_limit_on_file),
        (PayerKind.commercial, None, D(2015, 1, 1), D(2026, 1, 1), LookbackOutcome.state_unknown),
        (PayerKind.medicare, "CA", D(2015, 1, 1), D(2026, 1, 1), LookbackOutcome.not_commercial),
        (None, "CA", D(2015, 1, 1), D(2026, 1, 1), LookbackOutcome.not_commercial),
        (PayerKind.commercial, "CA", None, D(2026, 1, 1), LookbackOutcome.dates_unknown),
    ],
)
def test_look_back_limits(kind, state, paid, recouped, outcome):
    check = check_lookback(kind, state, paid, recouped, BOOK)
    assert check.outcome is outcome
    assert check.sentence()
    if outcome is LookbackOutcome.beyond:
        assert "may be beyond" in check.sentence() and check.limit.source.citation in check.sentence()


def test_medicare_interest_is_per_full_30_day_period_on_a_360_day_year():
    start = D(2024, 1, 1)  # 11.50 % in force since 2023-07-17
    assert medicare_interest(Decimal("1000.00"), start, D(2024, 1, 30), BOOK.interest_rates) is None  # day 30
    first = medicare_interest(Decimal("1000.00"), start, D(2024, 1, 31), BOOK.interest_rates)  # day 31
    assert (first.periods, first.amount) == (1, Decimal("9.58"))  # 1000 x 11.5 % x 30/360
    third = medicare_interest(Decimal("1000.00"), start, D(2024, 4, 1), BOOK.interest_rates)
    assert (third.periods, third.amount) == (3, Decimal("28.75"))
    assert not third.rate_may_be_stale
    assert medicare_interest(Decimal("1000.00"), D(2026, 12, 1), D(2027, 2, 1), BOOK.interest_rates).rate_may_be_stale
    assert medicare_interest(Decimal("1000.00"), D(2010, 1, 1), D(2010, 3, 1), BOOK.interest_rates) is None


def _recovery(tid: str, amount: str, method: str, day: int) -> Recovery:
    return Recovery(tid, Decimal(amount), method, D(2026, 1, day), f"EFT{day}")


def test_a_claim_reversed_and_then_offset_again_was_recovered_twice():
    twice = recovered_twice(
        Decimal("300"), Decimal("0"), [_recovery("wo", "300", "offset", 20), _recovery("rev", "300", "offset", 5)]
    )
    assert twice.amount == Decimal("300")
    assert [r.takeback_id for r in twice.beyond] == ["wo"]


def test_a_refund_check_and_an_offset_of_the_same_claim():
    twice = recovered_twice(
        Decimal("300"), None, [_recovery("refund", "300", "refund", 3), _recovery("rev", "300", "offset", 9)]
    )
    assert twice.amount == Decimal("300") and [r.takeback_id for r in twice.beyond] == ["rev"]


def test_a_reversal_and_its_correction_are_not_taken_twice():
    # 300 paid, reversed, corrected to 200: paid 500 in all, 300 recovered, 200 kept = 200 owed
    assert recovered_twice(Decimal("500"), Decimal("200"), [_recovery("rev", "300", "offset", 5)]) is None
    # a later WO of 300 naming it takes 300 the payer owes back
    again = recovered_twice(
        Decimal("500"), Decimal("200"), [_recovery("rev", "300", "offset", 5), _recovery("wo", "300", "offset", 30)]
    )
    assert again.amount == Decimal("300")


def test_installments_of_one_overpayment_are_not_taken_twice():
    recoveries = [_recovery("wo1", "100", "offset", 5), _recovery("wo2", "100", "offset", 30)]
    assert recovered_twice(Decimal("300"), None, recoveries) is None


def test_the_forecast_sums_expected_offsets_per_provider_and_payer_in_cumulative_windows():
    today = D(2026, 3, 1)
    medicare_day_41 = expected_offset_on(MEDICARE, D(2026, 1, 25), BOOK)  # first carried on Jan 25
    assert medicare_day_41 == D(2026, 3, 6)
    unknown = payer_kind_of(["1"], [], BOOK)
    assert expected_offset_on(unknown, D(2026, 1, 25), BOOK) is None
    items = [
        CarriedItem("P1", "MCR", Decimal("200"), medicare_day_41),  # in 5 days
        CarriedItem("P1", "MCR", Decimal("50"), D(2026, 2, 1)),  # past due: may be taken any day
        CarriedItem("P1", "MCR", Decimal("70"), D(2026, 4, 15)),  # in 45 days
        CarriedItem("P1", "ACME", Decimal("30"), None),
    ]
    rows = {(r.provider_id, r.payer_id): r for r in forecast(items, today)}
    mcr = rows["P1", "MCR"]
    assert mcr.within == {7: Decimal("250"), 30: Decimal("250"), 60: Decimal("320")}
    assert rows["P1", "ACME"].undated == Decimal("30") and rows["P1", "ACME"].within[60] == 0
