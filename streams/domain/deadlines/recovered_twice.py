"""Money taken back twice for one claim (rules §13): a refund check and an offset, a reversal and a later WO
naming the same claim, a claim reversed twice.

What the provider should keep of a claim is what the payer last decided it owes (the correction's payment, 0
after a reversal without one); what it keeps is what was paid minus every recovery. A payer that took back more
than that owes the difference back. Where the 835s never say what is owed (PLB recoveries only), the floor is
0: nobody can recover more than was paid. A settlement of a carried balance is not a recovery: callers pass
takebacks, never the FB or WO lines that settle them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

FLAG = "recovered_twice"


@dataclass(frozen=True)
class Recovery:
    """One takeback of the claim: how much, how (reversal, offset, refund), when, and in which payment."""

    takeback_id: str
    amount: Decimal
    method: str
    on: dt.date | None
    trace_number: str


@dataclass(frozen=True)
class Excess:
    amount: Decimal  # what the payer owes back
    recoveries: tuple[Recovery, ...]  # every recovery of the claim, oldest first
    beyond: tuple[Recovery, ...]  # the ones that took more than was owed


def recovered_twice(paid: Decimal, owed: Decimal | None, recoveries: Iterable[Recovery]) -> Excess | None:
    """`paid`: every payment on the claim (original and corrections); `owed`: what the payer last decided it owes
    (None when no 835 says). None when nothing was taken beyond it."""
    ordered = tuple(sorted(recoveries, key=lambda r: (r.on or dt.date.min, r.takeback_id)))
    floor = owed if owed is not None else Decimal(0)
    kept, beyond = paid, []
    for recovery in ordered:
        kept -= recovery.amount
        if kept < floor:
            beyond.append(recovery)
    excess = floor - kept
    return Excess(excess, ordered, tuple(beyond)) if excess > 0 else None
