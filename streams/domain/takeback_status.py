"""Where a takeback stands for the person who works it (rules §8a): what settled it, what remains, its status.

A takeback is settled by the payment that carries it, unless part of it is carried (a negative FB or a
deferred WO in that payment): that part stays open until a later FB, WO, 72 or B2 settles it. Every change
is a new revision of the takeback, so its status stays current.
"""

from __future__ import annotations

from decimal import Decimal

from schemas import ZERO, Settlement, Takeback, TakebackMethod, TakebackStatus
from streams.domain.facts import RemittanceFacts

# A person has to look: no original found, no correction past the wait (rules §3, §5).
REVIEW_FLAGS = frozenset({"original_not_found", "correction_overdue"})


def status_of(takeback: Takeback) -> TakebackStatus:
    if takeback.withdrawn:
        return TakebackStatus.withdrawn
    needs_review = any(flag in REVIEW_FLAGS for flag in takeback.flags)
    if needs_review or (takeback.plb_reason_code is not None and takeback.claim_id is None):
        return TakebackStatus.needs_review  # a PLB recovery whose reference leads to no claim, too
    return TakebackStatus.open if takeback.remaining else TakebackStatus.settled


def revised(takeback: Takeback, **update: object) -> Takeback:
    """A new version of a takeback with `update` applied and its status recomputed (never changed in place)."""
    new = takeback.model_copy(update=update)
    new.status = status_of(new)
    return new


def with_status(takeback: Takeback) -> Takeback:
    """A takeback just built: its status from its own fields (it is not yet published, so set in place)."""
    takeback.status = status_of(takeback)
    return takeback


def carry(takeback: Takeback, amount: Decimal, remittance_id: str) -> Takeback:
    """Part of the takeback is carried forward (FB, deferred WO) by the payment `remittance_id`: that payment (else
    the takeback's own) netted that much less of it, and it stays open with that much `remaining` (rules §8a)."""
    settled_by = list(takeback.settled_by)
    carried = min(amount, sum((s.amount for s in settled_by), ZERO))
    if carried <= ZERO:
        return takeback
    here, own = remittance_id, takeback.remittance_id
    order = sorted(
        range(len(settled_by)),
        key=lambda i: (settled_by[i].remittance_id == here, settled_by[i].remittance_id == own, i),
        reverse=True,
    )
    left = carried
    for i in order:
        cut = min(left, settled_by[i].amount)
        settled_by[i] = settled_by[i].model_copy(update={"amount": settled_by[i].amount - cut})
        left -= cut
        if left <= ZERO:
            break
    settled_by = [s for s in settled_by if s.amount > ZERO]
    remaining = (takeback.remaining or ZERO) + carried
    return revised(takeback, settled_by=settled_by, remaining=remaining, method=_method(takeback, settled_by))


def settle(takeback: Takeback, settlement: Settlement) -> Takeback:
    """A later payment settled (part of) what the takeback carried: never more than what remains (rules §8a)."""
    remaining = takeback.remaining or ZERO
    amount = min(settlement.amount, remaining)
    if amount <= ZERO:
        return takeback
    if amount < settlement.amount:
        settlement = settlement.model_copy(update={"amount": amount})
    settled_by = [*takeback.settled_by, settlement]
    left = remaining - amount
    return revised(
        takeback,
        settled_by=settled_by,
        remaining=left if left > ZERO else None,
        method=_method(takeback, settled_by),
    )


def _method(takeback: Takeback, settled_by: list[Settlement]) -> TakebackMethod:
    """Rules §5: `refund` once a check (72, B2) paid part of it back; `settled_by` shows each part."""
    if any(s.method == TakebackMethod.refund for s in settled_by):
        return TakebackMethod.refund
    return takeback.method


def settled_in(
    facts: RemittanceFacts, method: TakebackMethod, amount: Decimal, plb_reason_code: str | None = None
) -> Settlement:
    """A settlement carried by the payment `facts` describes."""
    return Settlement(
        method=method,
        amount=amount,
        trace_number=facts.trace_number,
        remittance_id=facts.remittance_id,
        date=facts.takeback_date,
        plb_reason_code=plb_reason_code,
    )
