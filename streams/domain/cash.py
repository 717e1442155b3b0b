"""Per-provider cash arithmetic (rules §8): the columns, and the one home of the cash invariant.

    net_cash = claim_payments - reversed - recouped + forward_balance + refunds + other_adjustments
               - not_moved + unexplained

Why it holds by construction: the facts of a remittance split its signed BPR02 into ``net_cash`` (money moved)
and ``not_moved`` (BPR01 H or P, rules §7), and book in ``unexplained`` what its claims and PLB amounts do not
explain (only an accepted unbalanced remittance has any, rules §7; every other one balances: the reader rejects
it otherwise). So for each remittance ``net_cash + not_moved - unexplained = sum CLP04 - sum PLB``, and the
matchers book every CLP04 and every PLB amount in exactly one of the other columns, with the sign the formula
gives it. ``invariant_holds`` checks it on every row in the tests, the property tests and the scenarios.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from schemas import ZERO

# The terms of the invariant and their signs: what explains net_cash.
EXPLAINS: dict[str, int] = {
    "claim_payments": 1,
    "reversed": -1,
    "recouped": -1,
    "forward_balance": 1,
    "refunds": 1,
    "other_adjustments": 1,
    "not_moved": -1,
    "unexplained": 1,
}
BUCKETS = ("net_cash", *EXPLAINS)


@dataclass(slots=True)
class CashTotals:
    """Running totals for one provider, or one provider x payer (derived state, never serialized)."""

    net_cash: Decimal = ZERO
    claim_payments: Decimal = ZERO
    reversed: Decimal = ZERO
    recouped: Decimal = ZERO
    forward_balance: Decimal = ZERO
    refunds: Decimal = ZERO
    other_adjustments: Decimal = ZERO
    not_moved: Decimal = ZERO
    unexplained: Decimal = ZERO

    def add(self, bucket: str, amount: Decimal) -> None:
        setattr(self, bucket, getattr(self, bucket) + amount)


def explained(row: Any) -> Decimal:
    """The right-hand side of the invariant, for a row (NetCashRow, PayerCash, CashTotals) or its JSON form."""
    get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name, None)
    return sum((sign * Decimal(str(get(term) or ZERO)) for term, sign in EXPLAINS.items()), ZERO)


def invariant_holds(row: Any) -> bool:
    """Rules §8 on one row: a NetCashRow, PayerCash or CashTotals, or the JSON form of a published row."""
    net_cash = row.get("net_cash") if isinstance(row, Mapping) else row.net_cash
    return Decimal(str(net_cash or ZERO)) == explained(row)


def totals_as_fields(totals: CashTotals) -> dict[str, Decimal]:
    return {bucket: getattr(totals, bucket) for bucket in BUCKETS}


# Rules §8a: open balances by age in days; (label, first day, last day), the last one open-ended.
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-30", 0, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("91-120", 91, 120),
    ("over-120", 121, None),
)


def age_bucket(days: int) -> int:
    """The position in AGE_BUCKETS of an age; a date after the as-of date (out-of-order data) counts as new."""
    for position, (_, low, high) in enumerate(AGE_BUCKETS):
        if days >= low and (high is None or days <= high):
            return position
    return 0


def open_by_age(balances: Iterable[tuple[Decimal, dt.date | None]], as_of: dt.date | None) -> dict[str, Decimal]:
    """Every bucket, with what (amount, opened) balances still carry; an undated balance counts as new."""
    totals = [ZERO] * len(AGE_BUCKETS)
    for amount, opened in balances:
        days = (as_of - opened).days if as_of and opened else 0
        totals[age_bucket(days)] += amount
    return {label: total for (label, _, _), total in zip(AGE_BUCKETS, totals, strict=True)}
