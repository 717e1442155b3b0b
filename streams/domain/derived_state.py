"""What a ledger computes from its facts: takebacks, carried balances, cash; rebuilt when facts arrive out of order.

The matchers change it only through `put` (a takeback) and `book` (cash), so what changed is known. A ledger holds
the remittances of every NPI of one TIN (rules §5): its claim indexes span them, while cash, flags and carried
balances are kept per payee NPI (the provider whose bank account the remittance paid).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import BaseModel

from schemas import Settlement, Takeback
from streams.domain.canonical_order import OrderKey
from streams.domain.cash import CashTotals
from streams.domain.claim_index import ClaimIndex, ClaimRef, PaymentRecord
from streams.domain.facts import RemittanceFacts


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
    payee_id: str  # the NPI that carries it; a sibling NPI's payment settles it only by naming its claim (§5)
    reason_code: str
    tokens: frozenset[str]
    outstanding: Decimal
    opened: dt.date | None  # when it was first carried: a serial FB that re-carries it keeps the date (rules §8a)
    text: str = ""  # the reference's exact text: what a reference resolving to no claim is compared by (rules §4)
    claims: frozenset[ClaimRef] = frozenset()  # the claim its reference resolves to (rules §4), empty until known
    takeback_ids: list[str] = field(default_factory=list)  # the takebacks whose money it carries (rules §8a)


@dataclass(slots=True)
class PendingReversal:
    """A reversal still waiting for its correction, with what the correction will be compared with (rules §3, §6)."""

    # canonical order (the reversal's remittance, its position there): the earliest reversal takes a correction
    # first, whatever order the remittances arrived in (streams/domain/late_arrival.py relies on it)
    sequence: tuple[OrderKey, int]
    before: tuple[str, ...]  # the original's codes (a reversal's own, for an orphan)
    patient_responsibility: Decimal | None  # CLP05 of the original
    void: bool  # CLP09 = 8 on the reversal or the original


@dataclass
class DerivedState:
    """Everything computed from the facts; rebuilt whenever facts arrive out of order."""

    payments_by_pcn: ClaimIndex = field(default_factory=ClaimIndex)
    payments_by_claim_id: ClaimIndex = field(default_factory=ClaimIndex)
    payments_by_f8: ClaimIndex = field(default_factory=ClaimIndex)  # REF*F8 of the few claims that carry one
    # (remittance id, position) of a correction -> the payment its reversal took back: one claim (rules §3, §4)
    claim_roots: dict[tuple[str, int], PaymentRecord] = field(default_factory=dict)
    takebacks_by_claim: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (payer, CLP01) -> ids
    carried: list[CarriedBalance] = field(default_factory=list)
    takebacks: dict[str, Takeback] = field(default_factory=dict)
    # reversals waiting for their correction: event id -> what it waits with, indexed by the keys a correction
    # can match on; and a heap of (date, the two parts of its sequence, event id) to flag the ones overdue
    awaiting_correction: dict[str, PendingReversal] = field(default_factory=dict)
    awaiting_by_key: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    overdue_heap: list[tuple[str, OrderKey, int, str]] = field(default_factory=list)
    cash: dict[str, PayeeCash] = field(default_factory=dict)  # payee NPI -> its cash
    last_key: OrderKey = ("", "", "")
    applied: list[RemittanceFacts] = field(default_factory=list)  # in canonical order: what a late one comes before
    # payer -> the latest remittance that opened, settled or resolved one of its carried balances
    carried_changed_at: dict[str, OrderKey] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)  # takebacks created or changed by the last apply
    dirty: list[str] = field(default_factory=list)  # takebacks changed since the deadline fields were refreshed
    # Rules §13: the claim each takeback recovered, and every recovery of each claim (recovered twice)
    claim_of: dict[str, ClaimRef] = field(default_factory=dict)
    recoveries_by_claim: dict[ClaimRef, list[str]] = field(default_factory=dict)

    def note_applied(self, facts: RemittanceFacts, key: OrderKey) -> None:
        """Keep `applied` in canonical order: an append in order, an insertion for a late remittance."""
        if not self.applied or key > self.applied[-1].order_key():
            self.applied.append(facts)
        else:
            self.applied.insert(bisect.bisect(self.applied, key, key=RemittanceFacts.order_key), facts)

    def applied_after(self, key: OrderKey) -> list[RemittanceFacts]:
        return self.applied[bisect.bisect(self.applied, key, key=RemittanceFacts.order_key) :]

    def note_carried_change(self, payer_id: str, key: OrderKey) -> None:
        self.carried_changed_at[payer_id] = max(key, self.carried_changed_at.get(payer_id, key))

    def put(self, takeback: Takeback) -> None:
        """A new takeback, or a new version of one (takebacks are never changed in place)."""
        share_fields_set(takeback)
        self.takebacks[takeback.event_id] = takeback
        self.touched.add(takeback.event_id)
        self.dirty.append(takeback.event_id)

    def payee_cash(self, payee_id: str) -> PayeeCash:
        found = self.cash.get(payee_id)
        if found is None:
            found = self.cash[payee_id] = PayeeCash()
        return found

    def book(self, facts: RemittanceFacts, bucket: str, amount: Decimal, payee_id: str | None = None) -> None:
        """Add an amount to a cash bucket of the remittance's payee (or of `payee_id`, a sibling NPI of the ledger)
        and of its row for the payer (rules §8)."""
        if not amount:
            return
        cash = self.payee_cash(payee_id or facts.payee_id)
        cash.totals.add(bucket, amount)
        cash.by_payer.setdefault(facts.payer_id, CashTotals()).add(bucket, amount)

    def count_flags(self, facts: RemittanceFacts, flags: list[str]) -> None:
        counts = self.payee_cash(facts.payee_id).flag_counts
        for flag in flags:
            counts[flag] = counts.get(flag, 0) + 1


@dataclass
class PayeeCash:
    """One payee NPI's cash (rules §8): totals, a row per payer, the flags its remittances carried, its last day."""

    totals: CashTotals = field(default_factory=CashTotals)
    by_payer: dict[str, CashTotals] = field(default_factory=dict)
    flag_counts: dict[str, int] = field(default_factory=dict)  # remittance and claim flags seen
    last_day: str = ""  # the latest production date of its remittances (ISO)
