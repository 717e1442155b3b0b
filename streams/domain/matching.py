"""The matching rules, in canonical order: each remittance's claims, then its PLB amounts (rules §3-§5, §8).

`derive` rebuilds a ledger's derived state from all its facts; `Matcher.apply` adds one remittance
that sorts after everything applied so far.
"""

from __future__ import annotations

from collections.abc import Iterable

from streams.domain.claim_matching import ClaimMatcher
from streams.domain.deadlines.takebacks import refresh as refresh_deadlines
from streams.domain.derived_state import DerivedState
from streams.domain.facts import RemittanceFacts
from streams.domain.match_policy import MatchPolicy
from streams.domain.plb_matching import AdjustmentMatcher


class Matcher:
    """Applies remittance facts, in canonical order, to derived state."""

    def __init__(self, state: DerivedState, policy: MatchPolicy) -> None:
        self.state = state
        self.claims = ClaimMatcher(state, policy)
        self.adjustments = AdjustmentMatcher(state, policy)
        self.rules = policy.rules

    def apply(self, facts: RemittanceFacts) -> None:
        state = self.state
        key = facts.order_key()
        state.last_key = max(state.last_key, key)
        state.note_applied(facts, key)
        payee = state.payee_cash(facts.payee_id)
        payee.last_day = max(payee.last_day, key[0])
        state.book(facts, "net_cash", facts.net_cash)
        state.book(facts, "not_moved", facts.not_moved)  # rules §7: reported paid, no money moved
        state.book(facts, "unexplained", facts.unexplained)  # rules §7: accepted unbalanced
        state.count_flags(facts, [*facts.flags, *(f for claim in facts.claims for f in claim.flags)])
        self.claims.apply(facts)
        self.adjustments.apply(facts)
        self.claims.flag_overdue_corrections()
        refresh_deadlines(state, self.rules)  # rules §11, §13: on what this remittance created or changed


def derive(all_facts: Iterable[RemittanceFacts], policy: MatchPolicy) -> DerivedState:
    """The derived state of a ledger's facts, applied in canonical order: arrival order changes nothing."""
    state = DerivedState()
    matcher = Matcher(state, policy)
    for facts in sorted(all_facts, key=RemittanceFacts.order_key):
        matcher.apply(facts)
    return state
