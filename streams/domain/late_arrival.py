"""Can a late remittance be applied in place, on top of the remittances that sort after it?

A ledger's state is what applying its remittances in canonical order gives (streams/domain/matching.py). A
remittance L that arrives after remittances sorting later than it (the *later ones*) would make the ledger
re-derive everything, at a cost that grows with the provider's history. Applying L on top of the current state
gives the same state as the canonical order when L and each later one commute: neither reads what the other
writes, and what both write comes out the same in either order. `can_apply_in_place` decides that from L's facts,
the later ones' facts and the state's indexes, conservatively: when in doubt, the ledger re-derives.

Why the decision is sound. Every part of the matching state is scoped to one payer, and (but for the totals and
the overdue check) reached through claim keys: CLP01, CLP07, REF*F8, and the tokens of PLB references (with their
Medicare FCN form, streams/domain/references.py). L's *reach* is its own keys plus the keys of every payment
record and of every reversal waiting for its correction that its keys find; a later remittance *uses* its own keys.
* Payment records (rules §3) are found under their keys. Records a later one added under L's keys, records L adds
  under its keys, a record both reverse (`reversed_by`): each puts a shared key in L's reach and the later one's.
* A reversal waits for its correction under its CLP07 and CLP01; L and a later one that both link (or one that
  created it and the other that links it) find it under keys in L's reach.
* Carried balances (FB, deferred WO; rules §4) are matched by tokens and by claims resolved late, and settled in
  list order. So L may open none (no negative FB or WO), no later remittance of its payer may have changed one
  (opened, settled or resolved it: `DerivedState.carried_changed_at`), and L's reach may name none of its payer's
  (its records would change how the balance resolves). A positive FB or WO of L settles balances first: allowed
  only when its payer has none, which (nothing having changed since L's place) it had none at L's place either, so
  it is recovered or applied exactly as in canonical order.
* Cash totals and flag counts are sums; `last_key` is a maximum. The overdue check (rules §5) flags a waiting
  reversal against the latest date, so L's reversals end up flagged as in canonical order; a correction by L of
  a reversal a later one flagged removes the flag, as it would have before the flag.
* Orders that matter: L's records and reversals go under keys no later one used, so appended is where canonical
  order puts them; the order reversals take corrections in is canonical by construction (PendingReversal.sequence);
  `DerivedState.applied` is kept sorted.
Not decided here: a re-issue (rules §2) always re-derives (the ledger checks it first).
The cost is L's keys and one pass over the keys of the later remittances of its payer: what it touches.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import ZERO
from streams.domain.canonical_order import OrderKey
from streams.domain.derived_state import DerivedState
from streams.domain.facts import RemittanceFacts
from streams.domain.plb_codes import CARRY_CODES
from streams.domain.references import keys_read_by, reference_tokens


@dataclass
class LateArrivals:
    """How many remittances arrived after one sorting later, and how many of them were applied in place."""

    late: int = 0
    in_place: int = 0

    def count(self, in_place: bool) -> None:
        self.late += 1
        self.in_place += in_place

    def describe(self) -> str:
        return f"late remittances applied in place: {self.in_place:,} of {self.late:,}"


late_arrivals = LateArrivals()  # for this process: the benchmarks print it


def can_apply_in_place(state: DerivedState, facts: RemittanceFacts, key: OrderKey) -> bool:
    """Does applying `facts` (which sorts at `key`, before `state.last_key`) on top of `state` give the state of the
    canonical order? False when unsure: the caller re-derives."""
    payer = facts.payer_id
    if _opens_balance(facts) or state.carried_changed_at.get(payer, key) > key:
        return False
    reach = _reach(state, payer, claim_keys(facts))
    settles = _settles(facts)
    for balance in state.carried:
        if balance.payer_id != payer:
            continue
        if settles or not reach.isdisjoint(keys_read_by(balance.tokens) | {ref[1] for ref in balance.claims}):
            return False
    return not any(later.payer_id == payer and _uses_any(later, reach) for later in state.applied_after(key))


def claim_keys(facts: RemittanceFacts) -> set[str]:
    """Every key the remittance's claims and PLB references look payments and reversals up by."""
    keys = {k for claim in facts.claims for k in (claim.claim_id, claim.pcn, claim.original_reference) if k}
    for adj in facts.adjustments:
        keys |= _reference_keys(adj.reference)
    return keys


def _opens_balance(facts: RemittanceFacts) -> bool:
    """A negative FB or WO opens a carried balance: later remittances may settle it, in list order."""
    return any(adj.reason_code in CARRY_CODES and adj.amount < ZERO for adj in facts.adjustments)


def _settles(facts: RemittanceFacts) -> bool:
    """A positive FB or WO settles carried balances of its payer first (rules §4): safe only when it has none."""
    return any(adj.reason_code in CARRY_CODES and adj.amount > ZERO for adj in facts.adjustments)


def _reach(state: DerivedState, payer: str, keys: set[str]) -> set[str]:
    """The keys plus the keys of the payments and waiting reversals found under them: all L may read or change."""
    reach = set(keys)
    indexes = (state.payments_by_pcn, state.payments_by_claim_id, state.payments_by_f8)
    for key in keys:
        for index in indexes:
            for record in index.get((payer, key)):
                claim = record.claim
                reach.update(k for k in (claim.claim_id, claim.pcn, claim.original_reference) if k)
        for kind in ("pcn", "claim"):
            for event_id in state.awaiting_by_key.get((payer, kind, key), ()):
                takeback = state.takebacks[event_id]
                reach.update(k for k in (takeback.claim_id, takeback.payer_claim_control_number) if k)
    return reach


def _uses_any(later: RemittanceFacts, reach: set[str]) -> bool:
    for claim in later.claims:
        if claim.claim_id in reach or claim.pcn in reach or claim.original_reference in reach:
            return True
    return any(not reach.isdisjoint(_reference_keys(adj.reference)) for adj in later.adjustments)


def _reference_keys(reference: str | None) -> set[str]:
    return keys_read_by(reference_tokens(reference))
