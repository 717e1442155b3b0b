"""Banking days: the days ACH money moves (weekdays that are not Federal Reserve holidays).

Reassociation waits are counted in these days (rules §10: CAQH CORE expects an ERA and its EFT within
three business days of each other). The Federal Reserve observes a Sunday holiday on the Monday
after, and does not observe a Saturday holiday on the Friday before, unlike federal offices.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

MONDAY, THURSDAY, SATURDAY, SUNDAY = 0, 3, 5, 6


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th (1-based) `weekday` of the month; n = -1 for the last one."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


@cache
def federal_reserve_holidays(year: int) -> frozenset[dt.date]:
    fixed = [dt.date(year, 1, 1), dt.date(year, 7, 4), dt.date(year, 11, 11), dt.date(year, 12, 25)]
    if year >= 2022:  # Juneteenth, first observed by the Federal Reserve in 2022
        fixed.append(dt.date(year, 6, 19))
    observed = {day + dt.timedelta(days=1) if day.weekday() == SUNDAY else day for day in fixed}
    observed |= {
        _nth_weekday(year, 1, MONDAY, 3),  # Martin Luther King Jr. Day
        _nth_weekday(year, 2, MONDAY, 3),  # Washington's Birthday
        _nth_weekday(year, 5, MONDAY, -1),  # Memorial Day
        _nth_weekday(year, 9, MONDAY, 1),  # Labor Day
        _nth_weekday(year, 10, MONDAY, 2),  # Columbus Day
        _nth_weekday(year, 11, THURSDAY, 4),  # Thanksgiving
    }
    return frozenset(day for day in observed if day.weekday() < SATURDAY)


def is_business_day(day: dt.date) -> bool:
    return day.weekday() < SATURDAY and day not in federal_reserve_holidays(day.year)


def add_business_days(day: dt.date, count: int) -> dt.date:
    """The date `count` business days after `day` (`day` itself need not be a business day)."""
    while count > 0:
        day += dt.timedelta(days=1)
        if is_business_day(day):
            count -= 1
    return day


def business_days_between(start: dt.date, end: dt.date) -> int:
    """Business days after `start` up to and including `end` (negative when `end` is earlier)."""
    if end < start:
        return -business_days_between(end, start)
    return sum(1 for n in range(1, (end - start).days + 1) if is_business_day(start + dt.timedelta(days=n)))
