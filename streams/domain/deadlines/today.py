"""What a person reads today (rules §11, §13): days left, the next deadline, one sentence saying what may be done
and by when with its source, Medicare's interest estimate past day 30, and the forecast of offsets.

Read-time only: these depend on `today`, so they are computed when asked (the API, the pages, the exports), never
put in events. The takeback's own fields (`deadlines`, `payer_kind`, `lookback`) are what they read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from pydantic import BaseModel, Field

from schemas import ZERO, Money, NetCashRow, Takeback, TakebackDeadline, TakebackStatus
from streams.domain.deadlines.forecast import HORIZONS, CarriedItem, ForecastRow, expected_offset_on, forecast
from streams.domain.deadlines.interest import medicare_interest
from streams.domain.deadlines.rule_tables import PayerKind, RuleBook
from streams.domain.deadlines.takebacks import clock_fields, kind_found

NOT_ADVICE = "This is not legal advice."


class InterestView(BaseModel):
    amount: Money
    periods: int = Field(description="Full 30-day periods since day 1.")
    annual_percent: Decimal
    rate_effective_from: dt.date
    rate_may_be_stale: bool
    citation: str


class DueView(BaseModel):
    """A takeback's clocks as of `today` (rules §11): never stored, computed when asked."""

    today: dt.date
    next_deadline: TakebackDeadline | None = Field(None, description="The earliest clock not yet past.")
    days_left: int | None = Field(None, description="Days from today to next_deadline (0 on its last day).")
    overdue: bool = Field(False, description="The takeback's earliest clock (act_by) has passed.")
    sentence: str = Field(description="What may be done and by when, with the source. Never legal advice.")
    lookback_sentence: str | None = None
    interest_estimate: InterestView | None = Field(
        None, description="Medicare interest (42 CFR 405.378) on what is still owed past day 30: an estimate."
    )


def due(takeback: Takeback, today: dt.date, book: RuleBook, letter_date: dt.date | None = None) -> DueView:
    """The read-time view of one takeback; with the payer's letter date a person entered (rules §12), its clocks
    count from that day instead of the day the 835 showed the takeback."""
    if letter_date is not None:
        takeback = takeback.model_copy(update=clock_fields(takeback, book, letter_date))
    upcoming = next_deadline(takeback, today)
    return DueView(
        today=today,
        next_deadline=upcoming,
        days_left=(upcoming.act_by - today).days if upcoming else None,
        overdue=is_overdue(takeback, today),
        sentence=_sentence(takeback, upcoming, today),
        lookback_sentence=_lookback_sentence(takeback),
        interest_estimate=_interest(takeback, today, book),
    )


def next_deadline(takeback: Takeback, today: dt.date) -> TakebackDeadline | None:
    """The clock a person acts on now: the earliest not yet past (the takeback's deadlines are earliest first)."""
    return next((d for d in takeback.deadlines if d.act_by >= today), None)


def is_due_within(takeback: Takeback, today: dt.date, days: int) -> bool:
    """Its next clock falls within `days` days from today (the worklist's "due in 7 days")."""
    upcoming = next_deadline(takeback, today)
    return upcoming is not None and (upcoming.act_by - today).days <= days


def is_overdue(takeback: Takeback, today: dt.date) -> bool:
    """Its first clock (act_by) has passed (the worklist's "overdue")."""
    return takeback.act_by is not None and takeback.act_by < today


def _sentence(takeback: Takeback, upcoming: TakebackDeadline | None, today: dt.date) -> str:
    if takeback.withdrawn or takeback.status == TakebackStatus.withdrawn:
        return "Withdrawn: later 835s showed this was not a takeback; nothing to do."
    if takeback.payer_kind is None:
        # said plainly first (the pages show this sentence as it is), then why
        return (
            "No deadline: unknown payer (the payer's kind is not known: no payer profile, no Medicare or other "
            "CLP06 code)."
        )
    if not takeback.deadlines:
        if takeback.reason_category == "provider_void":
            return "No deadline: a void the provider asked for is not a payer's overpayment demand."
        return "No deadline on file for this payer."
    if upcoming is None:
        last = takeback.deadlines[-1]
        return f"Every deadline on file has passed (the last, day {last.day}, was {last.act_by.isoformat()})."
    left = (upcoming.act_by - today).days
    when = "today" if left == 0 else f"in {left} day{'s' if left != 1 else ''}"
    return (
        f"You may act by {upcoming.act_by.isoformat()} ({when}, day {upcoming.day}): {upcoming.description} "
        f"Source: {upcoming.source.citation}. {NOT_ADVICE}"
    )


def _lookback_sentence(takeback: Takeback) -> str | None:
    check = takeback.lookback
    if check is None:
        return None
    citation = check.source.citation if check.source else ""
    if check.outcome == "beyond":
        return (
            f"This recoupment may be beyond {check.state}'s look-back limit of {check.limit} (it ended "
            f"{check.last_day_allowed}; {citation}). {NOT_ADVICE}"
        )
    if check.outcome == "inside":
        return f"Within {check.state}'s look-back limit of {check.limit} ({citation})."
    return {
        "no_limit": f"{check.state}'s row lists no look-back limit ({citation}).",
        "no_limit_on_file": f"No look-back limit on file for {check.state}.",
        "state_unknown": "The provider's state is not known, so no look-back limit was checked.",
        "not_commercial": "Look-back limits are checked for commercial payers only.",
        "dates_unknown": "The original payment's date is not known, so no look-back limit was checked.",
    }.get(check.outcome)


def _interest(takeback: Takeback, today: dt.date, book: RuleBook) -> InterestView | None:
    """Only on a Medicare balance still owed (open, with `remaining`) past day 30."""
    if takeback.payer_kind != PayerKind.medicare or not takeback.remaining or takeback.day_one is None:
        return None
    estimate = medicare_interest(takeback.remaining, takeback.day_one, today, book.interest_rates)
    if estimate is None:
        return None
    return InterestView(
        amount=estimate.amount,
        periods=estimate.periods,
        annual_percent=estimate.rate.annual_percent,
        rate_effective_from=estimate.rate.effective_from,
        rate_may_be_stale=estimate.rate_may_be_stale,
        citation=estimate.rate.source.citation,
    )


# ---- forecast (rules §13)


class ForecastLine(BaseModel):
    """Expected offsets of one provider by one payer, in cumulative windows from `today`, and the cash after them."""

    provider_id: str
    payer_id: str
    today: dt.date
    within_7_days: Money = ZERO
    within_30_days: Money = ZERO
    within_60_days: Money = ZERO
    undated: Money = Field(ZERO, description="Carried with no expected day (a payer of unknown kind): not guessed.")
    net_cash: Money | None = Field(None, description="The payer's net cash so far (rules §8), when known.")
    net_cash_after_7_days: Money | None = None
    net_cash_after_30_days: Money | None = None
    net_cash_after_60_days: Money | None = None


def carried_items(takebacks: Iterable[Takeback], book: RuleBook) -> list[CarriedItem]:
    """What is still owed: open takebacks with `remaining`, each with the day its payer is expected to offset it
    (Medicare's day 41, a payer profile's offset day) counted from the day the balance first appeared."""
    items = []
    for t in takebacks:
        if t.withdrawn or t.status != TakebackStatus.open or not t.remaining or t.remaining <= ZERO:
            continue
        expected = expected_offset_on(kind_found(t, book), t.day_one, book) if t.day_one else None
        items.append(CarriedItem(t.payee_provider_id, t.payer_id, t.remaining, expected))
    return items


def forecast_lines(
    takebacks: Iterable[Takeback], today: dt.date, book: RuleBook, cash: NetCashRow | None = None
) -> list[ForecastLine]:
    """The forecast per (provider, payer); with the provider's cash row, the net cash expected after each window."""
    by_payer = {p.payer_id: p.net_cash for p in cash.by_payer} if cash else {}
    return [_line(row, today, by_payer.get(row.payer_id)) for row in forecast(carried_items(takebacks, book), today)]


def _line(row: ForecastRow, today: dt.date, net_cash: Decimal | None) -> ForecastLine:
    within = {f"within_{days}_days": row.within[days] for days in HORIZONS}
    after = {}
    if net_cash is not None:
        after = {f"net_cash_after_{days}_days": net_cash - row.within[days] for days in HORIZONS}
    return ForecastLine(
        provider_id=row.provider_id,
        payer_id=row.payer_id,
        today=today,
        undated=row.undated,
        net_cash=net_cash,
        **within,
        **after,
    )
