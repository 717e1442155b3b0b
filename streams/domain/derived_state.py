"""What a ledger computes from its facts: takebacks, carried balances, cash; rebuilt when facts arrive out of order.

The matchers change it only through `put` (a takeback) and `book` (cash), so what changed is known.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import BaseModel

from schemas import Settlement, Takeback
from streams.domain.cash import CashTotals
from streams.domain.claim_index import ClaimIndex


def share_fields_set(takeback: Takeback) -> None:
    """Give a takeback (and its settlements) the one shared set of all their field names as pydantic's fields-set.

    Each model otherwise keeps its own set of the field names it was given, the largest part of a takeback held
    in state. Nothing reads a takeback's fields-set (no `exclude_unset`), and pydantic only ever adds field names
    to it, which the shared set already holds (as the reader's builders do: streams/domain/x12/builders.py).
    """
    object.__setattr__(takeback, "__pydantic_fields_set__", _all_fields(Takeback))
    for settlement in takeback.settled_by:
        object.__setattr__(settlement, "__pydantic_fields_set__", _all_fields(Settlement))


@functools.cache
def _all_fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


@dataclass
class CarriedBalance:
    """A balance the provider still owes: a negative FB, or a deferred (negative) WO."""

    payer_id: str
    reason_code: str
    tokens: frozenset[str]
    outstanding: Decimal
    opened: dt.date | None
    claims: frozenset[str] = frozenset()  # CLP01s its reference resolves to (rules §4), empty until known
    takeback_id: str | None = None  # the takeback whose money it carries, when its claim has one


@dataclass(slots=True)
class PendingReversal:
    """A reversal still waiting for its correction, with what the correction will be compared with (rules §3, §6)."""

    sequence: int  # arrival order: the earliest reversal takes a correction first
    before: tuple[str, ...]  # the original's codes (a reversal's own, for an orphan)
    patient_responsibility: Decimal | None  # CLP05 of the original
    void: bool  # CLP09 = 8 on the reversal or the original


@dataclass
class DerivedState:
    """Everything computed from the facts; rebuilt whenever facts arrive out of order."""

    payments_by_pcn: ClaimIndex = field(default_factory=ClaimIndex)
    payments_by_claim_id: ClaimIndex = field(default_factory=ClaimIndex)
    payments_by_f8: ClaimIndex = field(default_factory=ClaimIndex)  # REF*F8 of the few claims that carry one
    takebacks_by_claim: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (payer, CLP01) -> ids
    carried: list[CarriedBalance] = field(default_factory=list)
    takebacks: dict[str, Takeback] = field(default_factory=dict)
    # reversals waiting for their correction: event id -> what it waits with, indexed by the keys a correction
    # can match on; and a heap of (date, sequence, event id) to flag the ones overdue
    awaiting_correction: dict[str, PendingReversal] = field(default_factory=dict)
    awaiting_by_key: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    overdue_heap: list[tuple[str, int, str]] = field(default_factory=list)
    sequence: int = 0
    cash: CashTotals = field(default_factory=CashTotals)
    cash_by_payer: dict[str, CashTotals] = field(default_factory=dict)
    last_key: tuple[str, str, str] = ("", "", "")
    touched: set[str] = field(default_factory=set)  # takebacks created or changed by the last apply
    flag_counts: dict[str, int] = field(default_factory=dict)  # remittance and claim flags seen

    def put(self, takeback: Takeback) -> None:
        """A new takeback, or a new version of one (takebacks are never changed in place)."""
        share_fields_set(takeback)
        self.takebacks[takeback.event_id] = takeback
        self.touched.add(takeback.event_id)

    def book(self, payer_id: str, bucket: str, amount: Decimal) -> None:
        """Add an amount to a cash bucket of the provider and of its row for the payer (rules §8)."""
        if not amount:
            return
        self.cash.add(bucket, amount)
        self.cash_by_payer.setdefault(payer_id, CashTotals()).add(bucket, amount)

    def count_flags(self, flags: list[str]) -> None:
        for flag in flags:
            self.flag_counts[flag] = self.flag_counts.get(flag, 0) + 1
