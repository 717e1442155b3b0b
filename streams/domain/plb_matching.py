"""Provider-level adjustments (rules §4): PLB recoveries as takebacks, carried balances and their settlement.

A positive WO/WU/J1 recovers money (a recoupment), first settling what is carried under its reference;
a negative FB or WO carries a balance the provider owes; 72/B2 next to a WO/FB is a refund by check,
CS "payer write off" next to a WO forgives it; every other code is an other adjustment.
"""

from __future__ import annotations

from decimal import Decimal

from schemas import ZERO, Takeback, TakebackKind, TakebackMethod
from streams.domain.claim_index import PaymentRecord, original_fields
from streams.domain.derived_state import CarriedBalance, DerivedState
from streams.domain.facts import PlbFact, RemittanceFacts
from streams.domain.ids import stable_id
from streams.domain.npi import is_valid_npi
from streams.domain.plb_codes import RECOVERY_CODES
from streams.domain.plb_pairing import pair_adjustments
from streams.domain.reasons import categorize
from streams.domain.references import reference_tokens


class AdjustmentMatcher:
    """Applies the PLB amounts of remittances, in canonical order, to derived state."""

    def __init__(self, state: DerivedState, provider_id: str) -> None:
        self.state = state
        self.provider_id = provider_id

    def apply(self, facts: RemittanceFacts) -> None:
        pairs = pair_adjustments(facts.adjustments)
        book = self.state.book
        for position, adj in enumerate(facts.adjustments):
            code, amount = adj.reason_code, adj.amount
            if amount == ZERO:
                continue  # zero PLB amounts are not allowed (TR3) and change nothing
            partner = pairs.partner_of.get(position)
            if position in pairs.refunds:
                book(facts.payer_id, "refunds", -amount)  # money the provider already returned by check
            elif position in pairs.write_offs:
                book(facts.payer_id, "other_adjustments", -amount)  # the payer forgave it: no cash
            elif code == "FB":
                self._forward_balance(facts, adj)
            elif code == "WO" and amount < ZERO:
                self._carry(facts, adj)  # deferred recovery: the provider still owes it
            elif code == "WO" and partner in pairs.write_offs:
                self._write_off(facts, position, adj, forgiven=-facts.adjustments[partner].amount)
            elif code in RECOVERY_CODES and amount > ZERO:
                self._recovery(facts, position, adj, refunded=partner in pairs.refunds)
            else:
                book(facts.payer_id, "other_adjustments", -amount)

    # ---- carried balances

    def _forward_balance(self, facts: RemittanceFacts, adj: PlbFact) -> None:
        """FB never creates a takeback: a negative carries a balance forward, a positive applies it."""
        self.state.book(facts.payer_id, "forward_balance", -adj.amount)
        if adj.amount < ZERO:
            self._carry(facts, adj, book=False)
        else:
            self._settle(facts.payer_id, reference_tokens(adj.reference), adj.amount)

    def _carry(self, facts: RemittanceFacts, adj: PlbFact, *, book: bool = True) -> None:
        if book:
            self.state.book(facts.payer_id, "forward_balance", -adj.amount)
        self.state.carried.append(
            CarriedBalance(
                payer_id=facts.payer_id,
                reason_code=adj.reason_code,
                tokens=reference_tokens(adj.reference),
                outstanding=-adj.amount,
                opened=facts.takeback_date,
            )
        )

    def _settle(self, payer_id: str, tokens: frozenset[str], amount: Decimal) -> Decimal:
        """Reduce carried balances sharing a reference token; returns the part of `amount` left over."""
        left = amount
        for balance in self.state.carried:
            if left <= ZERO:
                break
            if balance.payer_id == payer_id and balance.outstanding > ZERO and balance.tokens & tokens:
                used = min(left, balance.outstanding)
                balance.outstanding -= used
                left -= used
        self.state.carried = [b for b in self.state.carried if b.outstanding > ZERO]
        return left

    def _write_off(self, facts: RemittanceFacts, position: int, adj: PlbFact, forgiven: Decimal) -> None:
        """Rules §4: a positive WO offset by a negative CS 'payer write off': the payer forgave (part of) it.

        The forgiven part settles what is carried under that reference (the provider no longer owes it) and is
        no takeback; a part of the WO beyond what was forgiven is recovered as usual.
        """
        forgiven = min(forgiven, adj.amount)
        left = self._settle(facts.payer_id, reference_tokens(adj.reference), forgiven)
        self.state.book(facts.payer_id, "forward_balance", -(forgiven - left))
        self.state.book(facts.payer_id, "other_adjustments", -left)
        if adj.amount > forgiven:
            rest = adj.model_copy(update={"amount": adj.amount - forgiven})
            self._recovery(facts, position, rest, refunded=False)

    # ---- recoveries

    def _recovery(self, facts: RemittanceFacts, position: int, adj: PlbFact, *, refunded: bool) -> None:
        """A positive WO/WU/J1: money recovered now; a settlement of a carried balance first (rules §4)."""
        tokens = reference_tokens(adj.reference)
        new_money = self._settle(facts.payer_id, tokens, adj.amount) if adj.reason_code == "WO" else adj.amount
        settled = adj.amount - new_money
        if settled:
            self.state.book(facts.payer_id, "forward_balance", -settled)
        if new_money <= ZERO:
            return
        linked = self._claim_named_by(facts.payer_id, tokens)
        flags = [] if settled == ZERO else ["partly_settles_carried_balance"]
        # Rules §5: PLB01 may name another provider (offsets across NPIs of one TIN): when the recovered claim
        # is not one of this payee's, attribute the takeback to PLB01's provider and report both.  Payers also
        # put their own provider numbers in PLB01, so only a valid NPI other than the payee's counts.
        attributed = self.provider_id
        if linked is None and adj.provider_id not in facts.payee_ids and is_valid_npi(adj.provider_id):
            attributed = adj.provider_id
            flags.append("offset_against_other_provider")
        takeback = Takeback(
            event_id=stable_id(self.provider_id, facts.remittance_id, "plb", str(position)),
            kind=TakebackKind.recoupment,
            method=TakebackMethod.refund if refunded else TakebackMethod.offset,
            amount=new_money,
            provider_id=attributed,
            payee_provider_id=self.provider_id,
            payer_id=facts.payer_id,
            payer_name=facts.payer_name,
            claim_id=linked.claim.claim_id if linked else None,
            payer_claim_control_number=linked.claim.pcn if linked else None,
            **original_fields(linked),
            trace_number=facts.trace_number,
            remittance_id=facts.remittance_id,
            takeback_date=facts.takeback_date,
            plb_reason_code=adj.reason_code,
            plb_reference=adj.reference,
            reason_codes=[adj.reason_code],
            reason_category=categorize([], has_correction=False, plb_reason_code=adj.reason_code),
            flags=flags,
        )
        self.state.put(takeback)
        self.state.book(facts.payer_id, "recouped", new_money)

    def _claim_named_by(self, payer_id: str, tokens: frozenset[str]) -> PaymentRecord | None:
        """The latest payment whose CLP07, else CLP01, is one of the reference tokens."""
        for index in (self.state.payments_by_pcn, self.state.payments_by_claim_id):
            records = [r for token in sorted(tokens) for r in index.get((payer_id, token))]
            if records:
                return max(records, key=lambda r: (r.remittance.order_key(), r.position))
        return None
