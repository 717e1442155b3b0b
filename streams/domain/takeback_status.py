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


def carry(takeback: Takeback, amount: Decimal) -> Takeback:
    """Part of the takeback is carried forward (FB, deferred WO): its own payment offset less, and it stays open."""
    carried = min(amount, takeback.amount - (takeback.remaining or ZERO))
    if carried <= ZERO:
        return takeback
    settled_by = list(takeback.settled_by)
    own = next((i for i, s in enumerate(settled_by) if s.remittance_id == takeback.remittance_id), None)
    if own is not None:
        left = settled_by[own].amount - carried
        if left > ZERO:
            settled_by[own] = settled_by[own].model_copy(update={"amount": left})
        else:
            del settled_by[own]
    return revised(takeback, settled_by=settled_by, remaining=(takeback.remaining or ZERO) + carried)


def settle(takeback: Takeback, settlement: Settlement) -> Takeback:
    """A later payment settled (part of) what the takeback carried; a refund by check makes its method refund."""
    left = (takeback.remaining or ZERO) - settlement.amount
    update: dict[str, object] = {
        "settled_by": [*takeback.settled_by, settlement],
        "remaining": left if left > ZERO else None,
    }
    if settlement.method == TakebackMethod.refund:
        update["method"] = TakebackMethod.refund
    return revised(takeback, **update)


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
