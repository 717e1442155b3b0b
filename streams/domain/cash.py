"""Per-provider cash arithmetic (rules §8).

Every amount of an applied remittance lands in exactly one bucket, so the
invariant below holds by construction and is checked in tests:

    net_cash = claim_payments - reversed - recouped + forward_balance + refunds + other_adjustments
"""

from __future__ import annotations

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
