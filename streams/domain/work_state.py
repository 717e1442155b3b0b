"""The work state of a takeback, carried balance or deposit item (rules §12): what people did to it, folded.

Actions arrive in order per target (the actions topic is keyed by target); `apply` folds one into the state and
returns None for an action already applied (its `action_id` is in the history), so a double-clicked form, a retried
request or a redelivery after a crash acts once. Actions never touch money: the state holds who, what and when.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas import Action, ActionKind, ActionTarget
from streams.domain.deadlines.clocks import day_one


class DisputeState(StrEnum):
    """Where a takeback stands with the payer, as people recorded it."""

    none = "none"  # nobody disputed or accepted it
    disputed = "disputed"
    appealed = "appealed"
    accepted = "accepted"


# Actions that start follow-up work with the payer: on unassigned work they assign it to whoever took them.
TAKES_OWNERSHIP = (ActionKind.dispute, ActionKind.appeal, ActionKind.refund_sent)
NOBODY = ""  # the assignee filter's value for work nobody is assigned


class WorkState(BaseModel):
    """One target's work state, kept in the workers' `work` table and rebuilt by the sink from the audit trail."""

    model_config = ConfigDict(extra="forbid")

    target_kind: ActionTarget
    target_id: str
    provider_id: str | None = None
    assignee: str | None = None
    dispute_state: DisputeState = DisputeState.none
    reference_number: str | None = None
    filed_date: dt.date | None = None
    letter_date: dt.date | None = Field(None, description="The payer's letter: day 1 of the deadlines when known.")
    last_action: ActionKind | None = None
    last_action_at: dt.datetime | None = None
    last_actor: str | None = None
    refund_sent: bool = False
    posted: bool = False
    history: list[Action] = Field([], description="Every action applied, oldest first.")

    @classmethod
    def new(cls, action: Action) -> WorkState:
        return cls(target_kind=action.target_kind, target_id=action.target_id, provider_id=action.provider_id)

    @property
    def key(self) -> str:
        return f"{self.target_kind}:{self.target_id}"

    @property
    def touched(self) -> bool:
        return bool(self.history)

    def applied(self, action_id: str) -> bool:
        return any(a.action_id == action_id for a in self.history)

    def newest_first(self) -> list[Action]:
        return list(reversed(self.history))

    def day_one(self, first_seen: dt.date) -> dt.date:
        """Day 1 of this target's deadlines (rules §11): the letter's date once a person entered it."""
        return day_one(first_seen, self.letter_date)


def apply(state: WorkState | None, action: Action) -> WorkState | None:
    """The state after `action`; None when the action was applied already (idempotent by action_id)."""
    if state is not None and state.applied(action.action_id):
        return None
    current = (state or WorkState.new(action)).model_copy(deep=True)
    what = action.what
    if what.kind == ActionKind.assign:
        current.assignee = what.assignee
    elif what.kind in (ActionKind.dispute, ActionKind.appeal):
        current.dispute_state = DisputeState.disputed if what.kind == ActionKind.dispute else DisputeState.appealed
        current.reference_number = what.reference_number
        current.filed_date = what.filed_date
        current.letter_date = what.letter_date or current.letter_date  # a later filing without it keeps the known one
    elif what.kind == ActionKind.accept:
        current.dispute_state = DisputeState.accepted
    elif what.kind == ActionKind.refund_sent:
        current.refund_sent = True
    elif what.kind == ActionKind.posted:
        current.posted = True
    if current.assignee is None and what.kind in TAKES_OWNERSHIP:
        current.assignee = action.actor  # follow-up work needs an owner: whoever filed it, until someone assigns it
    current.provider_id = current.provider_id or action.provider_id
    current.last_action = ActionKind(what.kind)
    current.last_action_at = action.acted_at
    current.last_actor = action.actor
    current.history.append(action)
    return current


def fold(actions: Iterable[Action]) -> WorkState | None:
    """The work state of one target from its actions in order (the sink rebuilds it from the audit table)."""
    state: WorkState | None = None
    for action in actions:
        state = apply(state, action) or state
    return state
