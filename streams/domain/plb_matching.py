"""Provider-level adjustments (rules §4): PLB recoveries as takebacks, carried balances and their settlement.

A positive WO/WU/J1 recovers money (a recoupment), first settling what is carried under its reference;
a negative FB or WO carries a balance the provider owes (and the takeback of the claim it names stays open);
72/B2 next to a WO/FB is a refund by check, CS "payer write off" next to a WO forgives it; every other code
is an other adjustment. References are resolved to claims first, so one claim named two ways is one balance.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from schemas import ZERO, Settlement, Takeback, TakebackKind, TakebackMethod
from streams.domain.claim_index import PaymentRecord
from streams.domain.derived_state import CarriedBalance, DerivedState
from streams.domain.facts import PlbFact, RemittanceFacts
from streams.domain.ids import stable_id
from streams.domain.npi import is_valid_npi
from streams.domain.plb_codes import AUTHORIZED_RETURN, PAYER_WRITE_OFF, RECOVERY_CODES, REFUND_CODES
from streams.domain.plb_pairing import pair_adjustments
from streams.domain.reasons import reason_of
from streams.domain.references import claims_named_by, records_named_by, reference_tokens
from streams.domain.takeback_status import carry, settle, settled_in, with_status
from streams.domain.work_fields import recovery_fields


class AdjustmentMatcher:
    """Applies the PLB amounts of remittances, in canonical order, to derived state."""

    def __init__(self, state: DerivedState) -> None:
        self.state = state

    def apply(self, facts: RemittanceFacts) -> None:
        pairs = pair_adjustments(facts.adjustments)
        book = self.state.book
        for position, adj in enumerate(facts.adjustments):
            code, amount = adj.reason_code, adj.amount
            partner = pairs.partner_of.get(position)
            if position in pairs.refunds:
                book(facts, "refunds", -amount)  # money the provider already returned by check
            elif position in pairs.write_offs:
                book(facts, "other_adjustments", -amount)  # the payer forgave it: no cash
            elif code in RECOVERY_CODES and amount == ZERO:
                self._recovery(facts, position, adj, refund=None)  # not allowed (TR3), never dropped: flagged
            elif amount == ZERO:
                continue  # a zero FB or other adjustment moves nothing
            elif code == "FB":
                self._forward_balance(facts, adj, self._refund_by(facts, partner))
            elif code == "WO" and amount < ZERO:
                self._carry(facts, adj)  # deferred recovery: the provider still owes it
            elif code == "WO" and partner in pairs.write_offs:
                self._write_off(facts, position, adj, forgiven=-facts.adjustments[partner].amount)
            elif code in RECOVERY_CODES and amount > ZERO:
                self._recovery(facts, position, adj, refund=self._refund_by(facts, partner))
            else:
                book(facts, "other_adjustments", -amount)
                if code == AUTHORIZED_RETURN:  # rules §4: a refund check with no WO/FB it pays back
                    flags = ["unpaired_authorized_return"]
                    self.state.count_flags(facts, flags)

    def _refund_by(self, facts: RemittanceFacts, partner: int | None) -> PlbFact | None:
        """The 72 or B2 that pays this FB/WO back by check, if it has one."""
        if partner is None or facts.adjustments[partner].reason_code == PAYER_WRITE_OFF:
            return None
        return facts.adjustments[partner]

    # ---- carried balances

    def _forward_balance(self, facts: RemittanceFacts, adj: PlbFact, refund: PlbFact | None) -> None:
        """FB never creates a takeback: a negative carries a balance forward, a positive applies it."""
        self.state.book(facts, "forward_balance", -adj.amount)
        if adj.amount < ZERO:
            self._carry(facts, adj, book=False)
        else:
            self._settle(facts, reference_tokens(adj.reference), adj.amount, refund or adj)

    def _carry(self, facts: RemittanceFacts, adj: PlbFact, *, book: bool = True) -> None:
        """A balance the provider owes; when its reference resolves to a claim with a takeback, it carries that."""
        state = self.state
        if book:
            state.book(facts, "forward_balance", -adj.amount)
        tokens = reference_tokens(adj.reference)
        balance = CarriedBalance(
            payer_id=facts.payer_id,
            payee_id=facts.payee_id,
            reason_code=adj.reason_code,
            tokens=tokens,
            outstanding=-adj.amount,
            opened=facts.takeback_date,
            claims=claims_named_by(state, facts.payer_id, tokens),
        )
        balance.takeback_id = self._takeback_carried(facts, balance.claims)
        if balance.takeback_id is not None:
            state.put(carry(state.takebacks[balance.takeback_id], balance.outstanding))
        state.carried.append(balance)
        state.note_carried_change(facts.payer_id, facts.order_key())

    def _takeback_carried(self, facts: RemittanceFacts, claims: frozenset[str]) -> str | None:
        """The latest live takeback of the claim a carry names: the money that balance still owes."""
        found = [
            event_id
            for claim_id in sorted(claims)
            for event_id in self.state.takebacks_by_claim.get((facts.payer_id, claim_id), ())
            if self.state.takebacks[event_id].amount > ZERO
            and self.state.takebacks[event_id].payee_provider_id == facts.payee_id
        ]
        return max(found, key=lambda e: self.state.takebacks[e].takeback_date or dt.date.min, default=None)

    def _settle(self, facts: RemittanceFacts, tokens: frozenset[str], amount: Decimal, by: PlbFact) -> Decimal:
        """Reduce carried balances naming the same claim or sharing a reference token (rules §4); returns the part
        of `amount` left over. `by` is the PLB amount that settled them (a 72/B2 when paid by check)."""
        state = self.state
        left = amount
        claims: frozenset[str] | None = None  # resolved once, when a balance needs it
        for balance in state.carried:
            if left <= ZERO:
                break
            # carried per payee NPI: what one NPI carries, its own later payments settle (rules §4, §5)
            if balance.payer_id != facts.payer_id or balance.payee_id != facts.payee_id or balance.outstanding <= ZERO:
                continue
            if not balance.tokens & tokens:
                if claims is None:
                    claims = claims_named_by(state, facts.payer_id, tokens)
                if not claims:
                    continue
                if not balance.claims:  # opened before its claim was known
                    balance.claims = claims_named_by(state, facts.payer_id, balance.tokens)
                    if balance.claims:
                        state.note_carried_change(facts.payer_id, facts.order_key())
                if not balance.claims & claims:
                    continue
            used = min(left, balance.outstanding)
            balance.outstanding -= used
            left -= used
            state.note_carried_change(facts.payer_id, facts.order_key())
            if balance.takeback_id is not None:
                state.put(settle(state.takebacks[balance.takeback_id], _settlement(facts, by, used)))
        state.carried = [b for b in state.carried if b.outstanding > ZERO]
        return left

    def _write_off(self, facts: RemittanceFacts, position: int, adj: PlbFact, forgiven: Decimal) -> None:
        """Rules §4: a positive WO offset by a negative CS 'payer write off': the payer forgave (part of) it.

        The forgiven part settles what is carried under that reference (the provider no longer owes it) and is
        no takeback; a part of the WO beyond what was forgiven is recovered as usual.
        """
        forgiven = min(forgiven, adj.amount)
        write_off = adj.model_copy(update={"reason_code": PAYER_WRITE_OFF})
        left = self._settle(facts, reference_tokens(adj.reference), forgiven, write_off)
        self.state.book(facts, "forward_balance", -(forgiven - left))
        self.state.book(facts, "other_adjustments", -left)
        if adj.amount > forgiven:
            rest = adj.model_copy(update={"amount": adj.amount - forgiven})
            self._recovery(facts, position, rest, refund=None)

    # ---- recoveries

    def _recovery(self, facts: RemittanceFacts, position: int, adj: PlbFact, *, refund: PlbFact | None) -> None:
        """A WO/WU/J1: money recovered now; a settlement of a carried balance first (rules §4)."""
        tokens = reference_tokens(adj.reference)
        new_money = adj.amount
        if adj.reason_code == "WO" and adj.amount > ZERO:
            new_money = self._settle(facts, tokens, adj.amount, refund or adj)
        settled = adj.amount - new_money
        if settled:
            self.state.book(facts, "forward_balance", -settled)
        if new_money <= ZERO and adj.amount > ZERO:
            return
        linked = self._claim_named_by(facts, adj, tokens)
        flags = [] if settled == ZERO else ["partly_settles_carried_balance"]
        if new_money == ZERO:
            flags.append("zero_amount")
        # Rules §5: the payer offsets at the TIN level, so the claim recovered may be a sibling NPI's: the takeback
        # belongs to the provider of that claim, and to PLB01's when the claim is unknown and PLB01 is a valid
        # NPI other than the payee's (payers also put their own provider numbers there); both are reported.
        payee = facts.payee_id
        attributed = linked.remittance.payee_id if linked else payee
        if linked is None and adj.provider_id not in facts.payee_ids and is_valid_npi(adj.provider_id):
            attributed = adj.provider_id
        if attributed != payee:
            flags.append("offset_against_other_provider")
        paid_by = refund or adj
        takeback = Takeback(
            event_id=stable_id(payee, facts.remittance_id, "plb", str(position)),
            kind=TakebackKind.recoupment,
            method=TakebackMethod.refund if refund else TakebackMethod.offset,
            amount=new_money,
            provider_id=attributed,
            payee_provider_id=payee,
            payer_id=facts.payer_id,
            payer_name=facts.payer_name,
            claim_id=linked.claim.claim_id if linked else None,
            payer_claim_control_number=linked.claim.pcn if linked else None,
            trace_number=facts.trace_number,
            remittance_id=facts.remittance_id,
            takeback_date=facts.takeback_date,
            plb_reason_code=adj.reason_code,
            plb_reference=adj.reference,
            reason_codes=[adj.reason_code],
            # Rules §6: a recovery that resolves to a claim takes that claim's reason when it has one
            reason_category=reason_of(
                linked.claim.reason_codes if linked else (), has_correction=False, plb_reason_code=adj.reason_code
            ),
            flags=flags,
            settled_by=[_settlement(facts, paid_by, new_money)] if new_money > ZERO else [],
            **recovery_fields(facts, adj, linked),
        )
        self.state.put(with_status(takeback))
        self.state.book(facts, "recouped", new_money)

    def _claim_named_by(self, facts: RemittanceFacts, adj: PlbFact, tokens: frozenset[str]) -> PaymentRecord | None:
        """The payment the reference names (rules §4: CLP07, CLP01, REF*F8, a Medicare FCN), among the claims of
        every NPI of the payee's TIN (rules §5): PLB01's own first, then the payee's, then the latest."""
        records = records_named_by(self.state, facts.payer_id, tokens)
        named = (adj.provider_id, facts.payee_id)

        def preference(r: PaymentRecord) -> tuple[bool, bool, tuple[str, str, str], int]:
            payee = r.remittance.payee_id
            return (payee == named[0], payee == named[1], r.remittance.order_key(), r.position)

        return max(records, key=preference, default=None)


def _settlement(facts: RemittanceFacts, by: PlbFact, amount: Decimal) -> Settlement:
    """What settled (part of) a takeback: a refund by check (72, B2), a payer write-off (CS), else an offset."""
    if by.reason_code in REFUND_CODES:
        method = TakebackMethod.refund
    elif by.reason_code == PAYER_WRITE_OFF:
        method = TakebackMethod.none
    else:
        method = TakebackMethod.offset
    return settled_in(facts, method, amount, by.reason_code)
