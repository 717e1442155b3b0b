"""What will be withheld soon (rules §13): carried balances and open Medicare overpayments, with the day each is
expected to be offset, summed per provider and payer for the next 7, 30 and 60 days.

A balance whose expected day has passed can be taken from any payment now: it counts in every window. One with
no expected day (a payer of unknown kind and no profile) is summed apart as `undated`, never guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from streams.domain.deadlines.clocks import deadlines_for
from streams.domain.deadlines.payer_kind import KindFound
from streams.domain.deadlines.rule_tables import RuleBook

HORIZONS = (7, 30, 60)
OFFSET_CLOCKS = ("medicare_offset", "payer_offset")  # the clocks that say when money is withheld


@dataclass(frozen=True)
class CarriedItem:
    provider_id: str
    payer_id: str
    amount: Decimal  # still owed
    expected_on: dt.date | None


@dataclass
class ForecastRow:
    provider_id: str
    payer_id: str
    within: dict[int, Decimal] = field(default_factory=lambda: {days: Decimal(0) for days in HORIZONS})
    undated: Decimal = Decimal(0)


def expected_offset_on(found: KindFound, first_carried: dt.date, book: RuleBook) -> dt.date | None:
    """Medicare's day 41, or the payer profile's offset day, counted from the day the balance first appeared."""
    clocks = deadlines_for(found, first_carried, book)
    return next((d.act_by for d in clocks if d.deadline_kind in OFFSET_CLOCKS), None)


def forecast(items: Iterable[CarriedItem], today: dt.date) -> list[ForecastRow]:
    """Expected offsets per (provider, payer), in cumulative windows: `within[30]` includes `within[7]`."""
    rows: dict[tuple[str, str], ForecastRow] = {}
    for item in items:
        row = rows.setdefault((item.provider_id, item.payer_id), ForecastRow(item.provider_id, item.payer_id))
        if item.expected_on is None:
            row.undated += item.amount
            continue
        for days in HORIZONS:
            if item.expected_on <= today + dt.timedelta(days=days):
                row.within[days] += item.amount
    return [rows[key] for key in sorted(rows)]
