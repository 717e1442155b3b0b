"""The clocks a takeback starts (rules §11): what to do, by when, and the rule that says so.

Day 1 is the day the overpayment first appears on an 835 (the takeback, or the first forward balance carrying
it), unless a person has entered the date of the payer's letter: `day_one` is the one place that choice is made.
Day N falls N - 1 days after day 1 (the Medicare contractors count the letter's date as day 1); a payer profile's
"within D days" is read the same way, the earlier of the two readings, so nobody is told a day too late.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from streams.domain.deadlines.payer_kind import KindFound
from streams.domain.deadlines.rule_tables import PayerKind, RuleBook, Source

PROFILE_CLOCKS = (  # payer profile column -> deadline kind, what a person may do
    ("dispute_days", "dispute_notice", "The payer's notice may be disputed until this day."),
    ("offset_days", "payer_offset", "The payer may offset the amount from payments from this day."),
    ("appeal_days", "payer_appeal", "An appeal may be filed until this day."),
)


@dataclass(frozen=True)
class Deadline:
    deadline_kind: str
    act_by: dt.date
    day: int  # day N counting day 1
    description: str
    source: Source

    def days_left(self, today: dt.date) -> int:
        """Negative once past."""
        return (self.act_by - today).days


def day_one(first_seen: dt.date, letter_date: dt.date | None = None) -> dt.date:
    """Rules §11/§12: the letter's date when a person entered it, else the day the 835 first showed it."""
    return letter_date or first_seen


def deadlines_for(found: KindFound, start: dt.date, book: RuleBook, *, provider_void: bool = False) -> list[Deadline]:
    """Every clock this takeback starts on day `start`, earliest first; none for an unknown payer.

    A void the provider asked for (CLP09 = 8) is not a Medicare overpayment demand: §935 does not apply.
    """
    if found.profile is not None:
        return _profile_clocks(found, start)
    if found.kind is PayerKind.medicare and provider_void:
        return []
    rules = book.kind_deadlines.get(found.kind, ()) if found.kind else ()
    return [Deadline(r.deadline_kind, _day(start, r.day), r.day, r.description, r.source) for r in rules]


def next_deadline(deadlines: list[Deadline], today: dt.date) -> Deadline | None:
    """The clock a person acts on now: the earliest not yet past; None when all have passed or there are none."""
    return next((d for d in deadlines if d.act_by >= today), None)


def _profile_clocks(found: KindFound, start: dt.date) -> list[Deadline]:
    profile = found.profile
    assert profile is not None
    clocks = []
    for column, kind, description in PROFILE_CLOCKS:
        days = getattr(profile, column)
        if days is not None:
            clocks.append(Deadline(kind, _day(start, days), days, description, profile.source))
    return sorted(clocks, key=lambda d: d.act_by)


def _day(start: dt.date, day: int) -> dt.date:
    return start + dt.timedelta(days=day - 1)
