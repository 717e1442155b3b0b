"""Per-provider cash arithmetic (rules §8).

Every amount of an applied remittance lands in exactly one bucket, so the
invariant below holds by construction and is checked in tests:

    net_cash = claim_payments - reversed - recouped + forward_balance + refunds + other_adjustments
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from schemas import ZERO, NetCashRow, PayerCash

BUCKETS = ("net_cash", "claim_payments", "reversed", "recouped", "forward_balance", "refunds", "other_adjustments")


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

    def add(self, bucket: str, amount: Decimal) -> None:
        setattr(self, bucket, getattr(self, bucket) + amount)


def invariant_holds(row: NetCashRow | PayerCash) -> bool:
    """Rules §8 invariant on a published row."""
    return row.net_cash == (
        row.claim_payments - row.reversed - row.recouped + row.forward_balance + row.refunds + row.other_adjustments
    )


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
