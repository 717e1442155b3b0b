"""An estimate of Medicare's interest on an overpayment still owed past day 30 (rules §11, 42 CFR 405.378).

Interest accrues from the demand when it is not repaid within 30 days, for each full 30-day period, as simple
interest on a 360-day year, at the rate in force on the day of the determination (Treasury certifies it each
quarter). Shown as an estimate: the demand's date is only known when a person enters it, and the rate table is
only as current as its last row (`rate_may_be_stale` says when that row is over a year older than day 1).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from streams.domain.deadlines.rule_tables import InterestRate

PERIOD_DAYS = 30
YEAR_DAYS = 360
STALE_AFTER = dt.timedelta(days=365)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class InterestEstimate:
    amount: Decimal
    periods: int
    rate: InterestRate
    rate_may_be_stale: bool


def medicare_interest(
    balance: Decimal, start: dt.date, today: dt.date, rates: tuple[InterestRate, ...]
) -> InterestEstimate | None:
    """None while nothing accrues (30 days or less since day 1), with no balance, or with no rate on file."""
    periods = (today - start).days // PERIOD_DAYS
    rate = rate_on(start, rates)
    if periods < 1 or balance <= 0 or rate is None:
        return None
    amount = balance * rate.annual_percent / 100 * PERIOD_DAYS / YEAR_DAYS * periods
    stale = start - rate.effective_from > STALE_AFTER
    return InterestEstimate(amount.quantize(CENT, ROUND_HALF_UP), periods, rate, stale)


def rate_on(day: dt.date, rates: tuple[InterestRate, ...]) -> InterestRate | None:
    """The rate in force on `day`: the last one that took effect on or before it (rates are oldest first)."""
    in_force = [r for r in rates if r.effective_from <= day]
    return in_force[-1] if in_force else None
