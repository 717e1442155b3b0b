"""A rebate request for money a payer took back twice for one claim (rules §13): what to print and send.

Everything on it comes from the takebacks of the claim (`recovered_twice_ids` names them, oldest first) and the
original payment they undo; the amount asked for is the takeback's `recovered_twice_excess`, the figure the API
and the exports show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from schemas import ZERO, Takeback

FLAG = "recovered_twice"


@dataclass(frozen=True)
class RebateCase:
    takeback: Takeback  # the recovery that went beyond what was owed (the page it is reached from)
    recoveries: list[Takeback]  # every recovery of the claim, oldest first
    missing: list[str]  # recoveries named by the event but not in this provider's ledger (listed by id)
    taken: Decimal  # the sum of the recoveries
    excess: Decimal  # what the payer owes back

    @property
    def paid(self) -> Decimal | None:
        """Every payment of the claim the 835s show: the original and the correction's."""
        t = self.takeback
        if t.original_payment_amount is None:
            return None
        return t.original_payment_amount + (t.correction_payment or ZERO)


def rebate_case(takeback: Takeback, takebacks: Mapping[str, Takeback]) -> RebateCase | None:
    """None when the takeback is not one that recovered more than was owed."""
    if FLAG not in takeback.flags or not takeback.recovered_twice_excess:
        return None
    ids = takeback.recovered_twice_ids or [takeback.event_id]
    found = [takebacks[i] for i in ids if i in takebacks]
    return RebateCase(
        takeback=takeback,
        recoveries=found,
        missing=[i for i in ids if i not in takebacks],
        taken=sum((t.amount for t in found), ZERO),
        excess=takeback.recovered_twice_excess,
    )
