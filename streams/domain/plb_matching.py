"""Provider-level adjustments (rules §4): PLB recoveries as takebacks, carried balances and their settlement.

A positive WO/WU/J1 recovers money (a recoupment), first settling what is carried under its reference;
a negative FB or WO carries a balance the provider owes (and the takebacks whose money it carries stay open);
72/B2 next to a WO/FB is a refund by check, CS "payer write off" next to a WO forgives it; every other code
is an other adjustment. References are resolved to claims first: one claim named two ways is one balance, and
two claims that share a member id or a CLP01 are two (streams/domain/references.py).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from schemas import REVERSAL_STATUS, ZERO, Settlement, Takeback, TakebackKind, TakebackMethod
from streams.domain.claim_index import ClaimRef
from streams.domain.deadlines.takebacks import first_fields, note_claim
from streams.domain.derived_state import CarriedBalance, DerivedState
from streams.domain.facts import PlbFact, RemittanceFacts
from streams.domain.ids import stable_id
from streams.domain.match_policy import MatchPolicy
from streams.domain.npi import is_valid_npi
from streams.domain.plb_codes import (
    AUTHORIZED_RETURN,
    CARRY_CODES,
    OFFSET_CODES,
    PAYER_WRITE_OFF,
    RECOVERY_CODES,
    REFUND_CODES,
)
from streams.domain.plb_pairing import pair_adjustments
from streams.domain.reasons import reason_of
from streams.domain.references import (
    ResolvedReference,
    claim_ref,
    claims_named_by,
    original_of,
    record_named_by,
    reference_text,
    reference_tokens,
    resolve,
)
from streams.domain.takeback_status import carry, revised, settle, settled_in, with_status
from streams.domain.work_fields import recovery_fields

REFUND_EXCEEDS_RECOVERY = "refund_exceeds_recovery"


class _Payment:
    """How a positive WO/FB (or a forgiven WO) is paid off (rules §4, §8a): the part a paired 72/B2 refunded by
    check first, the rest netted from this payment. A check larger than the WO/FB pays `excess` beyond it."""

    def __init__(self, by: PlbFact, refund: PlbFact | None) -> None:
        self.by = by
        self.refund = refund
        returned = -refund.amount if refund is not None else ZERO
        self.refunded = min(returned, by.amount)  # what the check paid of this WO/FB: the refunds column
        self.excess = returned - self.refunded  # never a refund of this takeback: an other adjustment
        self._refund_left = self.refunded

    def parts(self, amount: Decimal) -> list[tuple[PlbFact, Decimal]]:
        """The PLB amounts that pay `amount` of it: the check first, then the netted WO/FB."""
        from_check = min(self._refund_left, amount)
        self._refund_left -= from_check
        parts = [(self.refund, from_check)] if self.refund is not None and from_check > ZERO else []
        if amount > from_check:
            parts.append((self.by, amount - from_check))
        return parts


class AdjustmentMatcher:
    """Applies the PLB amounts of remittances, in canonical order, to derived state."""

    def __init__(self, state: DerivedState, policy: MatchPolicy) -> None:
        self.state = state
        self.rules = policy.rules
        self._references: list[ResolvedReference] = []
        self._netted: list[str] = []  # takebacks PLB amounts of the current remittance netted from its payment
        self._settled: list[str] = []  # takebacks the last `_settle` settled (part of)
        # FB balances the current remittance closed: when first carried, and the takebacks they carried
        self._closed_fb: list[tuple[dt.date, frozenset[str]]] = []
        self._opened_fb: list[CarriedBalance] = []  # FB balances the current remittance opened

    def apply(self, facts: RemittanceFacts) -> None:
        if not facts.adjustments:
            return
        self._references = [self._resolve(facts, adj) for adj in facts.adjustments]
        self._netted, self._closed_fb, self._opened_fb = [], [], []
        pairs = pair_adjustments(facts.adjustments, self._references)
        book = self.state.book
        for position, adj in enumerate(facts.adjustments):
            code, amount = adj.reason_code, adj.amount
            partner = pairs.partner_of.get(position)
            if position in pairs.refunds:
                continue  # a check that pays back its WO/FB: booked with it (`_book_refund`)
            elif position in pairs.write_offs:
                book(facts, "other_adjustments", -amount)  # the payer forgave it: no cash
            elif code in RECOVERY_CODES and amount == ZERO:
                self._recovery(facts, position, adj, refund=None)  # not allowed (TR3), never dropped: flagged
            elif amount == ZERO:
                continue  # a zero FB or other adjustment moves nothing
            elif code == "FB":
                self._forward_balance(facts, position, adj, self._refund_by(facts, partner))
            elif code == "WO" and amount < ZERO:
                self._carry(facts, position, adj)  # deferred recovery: the provider still owes it
            elif code == "WO" and partner in pairs.write_offs:
                self._write_off(facts, position, adj, forgiven=-facts.adjustments[partner].amount)
            elif code in RECOVERY_CODES and amount > ZERO:
                self._recovery(facts, position, adj, refund=self._refund_by(facts, partner))
            else:
                book(facts, "other_adjustments", -amount)
                if code == AUTHORIZED_RETURN:  # rules §4: a refund check with no WO/FB it pays back
                    flags = ["unpaired_authorized_return"]
                    self.state.count_flags(facts, flags)
        if self._closed_fb:
            self._keep_first_carry_dates()

    def _keep_first_carry_dates(self) -> None:
        """Rules §8a: a serial FB closes a balance and carries the same money on under a new reference (RFI 2051):
        its age counts from the first carry. The same money: a takeback both carry, or, for balances that carry no
        takeback, the other balances without one."""
        for balance in self._opened_fb:
            carried = frozenset(balance.takeback_ids)
            dates = [opened for opened, ids in self._closed_fb if (ids & carried) or not (ids or carried)]
            if dates and balance.opened:
                balance.opened = min(min(dates), balance.opened)

    def _resolve(self, facts: RemittanceFacts, adj: PlbFact) -> ResolvedReference:
        """Rules §4: the claim a reference names (PLB01's, then the payee's, then the latest), for the codes that
        settle, carry or pair by reference; every other code keeps its text."""
        if adj.reason_code in CARRY_CODES or adj.reason_code in OFFSET_CODES:
            return resolve(self.state, facts.payer_id, adj.reference, self._prefer(facts, adj))
        return ResolvedReference(reference_text(adj.reference))

    def _refund_by(self, facts: RemittanceFacts, partner: int | None) -> PlbFact | None:
        """The 72 or B2 that pays this FB/WO back by check, if it has one."""
        if partner is None or facts.adjustments[partner].reason_code == PAYER_WRITE_OFF:
            return None
        return facts.adjustments[partner]

    def _book_refund(self, facts: RemittanceFacts, paid: _Payment, takeback_ids: list[str]) -> None:
        """Rules §4, §8a: what a check paid of its WO/FB is a refund; what it paid beyond is an other adjustment,
        flagged on the takebacks the WO/FB paid off (never counted as a refund of them)."""
        self.state.book(facts, "refunds", paid.refunded)
        if paid.excess <= ZERO:
            return
        self.state.book(facts, "other_adjustments", paid.excess)
        for event_id in dict.fromkeys(takeback_ids):
            takeback = self.state.takebacks[event_id]
            flags = list(dict.fromkeys([*takeback.flags, REFUND_EXCEEDS_RECOVERY]))
            self.state.put(revised(takeback, flags=flags, refund_excess=(takeback.refund_excess or ZERO) + paid.excess))
        if not takeback_ids:
            self.state.count_flags(facts, [REFUND_EXCEEDS_RECOVERY])

    # ---- carried balances

    def _forward_balance(self, facts: RemittanceFacts, position: int, adj: PlbFact, refund: PlbFact | None) -> None:
        """FB never creates a takeback: a negative carries a balance forward, a positive applies it."""
        if adj.amount < ZERO:
            self._carry(facts, position, adj)
            return
        paid = _Payment(adj, refund)
        left = self._settle(facts, self._references[position], adj.amount, paid)
        self.state.book(facts, "forward_balance", -left)  # applies a balance this ledger does not hold
        self._book_refund(facts, paid, self._settled)

    def _carry(self, facts: RemittanceFacts, position: int, adj: PlbFact) -> None:
        """A balance the provider owes; it carries the money of the takeback of the claim its reference names,
        else of the takebacks this payment netted (its reference may be the ERA's trace or a letter: rules §8a)."""
        state = self.state
        state.book(facts, "forward_balance", -adj.amount)
        reference = self._references[position]
        balance = CarriedBalance(
            payer_id=facts.payer_id,
            payee_id=facts.payee_id,
            reason_code=adj.reason_code,
            tokens=reference_tokens(adj.reference),
            outstanding=-adj.amount,
            opened=facts.takeback_date,
            text=reference.text,
            claims=reference.claims,
        )
        left = balance.outstanding
        for event_id in self._takebacks_carried(facts, balance):
            takeback = state.takebacks[event_id]
            carried = carry(takeback, left, facts.remittance_id)
            part = (carried.remaining or ZERO) - (takeback.remaining or ZERO)
            if part > ZERO:
                state.put(carried)
                balance.takeback_ids.append(event_id)
                left -= part
            if left <= ZERO:
                break
        state.carried.append(balance)
        if adj.reason_code == "FB":
            self._opened_fb.append(balance)
        state.note_carried_change(facts.payer_id, facts.order_key())

    def _takebacks_carried(self, facts: RemittanceFacts, balance: CarriedBalance) -> list[str]:
        """The latest live takeback of the claim the balance names; without one, the takebacks this payment netted
        (its reversals, then what its PLB amounts recovered or settled): the money the balance still owes."""
        state = self.state
        found = [
            event_id
            for ref in sorted(balance.claims)
            for event_id in state.takebacks_by_claim.get((facts.payer_id, ref[1]), ())
            if state.takebacks[event_id].amount > ZERO
            and state.takebacks[event_id].payee_provider_id == facts.payee_id
            and self._claim_of(state.takebacks[event_id]) == ref
        ]
        if found:
            return [max(found, key=lambda e: state.takebacks[e].takeback_date or dt.date.min)]
        here = [
            stable_id(facts.payee_id, facts.remittance_id, "claim", str(position))
            for position, claim in enumerate(facts.claims)
            if claim.status_code == REVERSAL_STATUS and claim.payment < ZERO
        ]
        return [e for e in dict.fromkeys([*here, *self._netted]) if e in state.takebacks]

    def _claim_of(self, takeback: Takeback) -> ClaimRef | None:
        """The claim a reversal took back (rules §4); an orphan's is not known."""
        original = original_of(self.state, takeback)
        return None if original is None else claim_ref(self.state, original)

    def _settle(
        self,
        facts: RemittanceFacts,
        reference: ResolvedReference,
        amount: Decimal,
        paid: _Payment,
        *,
        sibling: bool = True,
    ) -> Decimal:
        """Reduce the carried balances on the same reference (rules §4: the same resolved claim, else the same text);
        returns the part of `amount` left over. A sibling NPI's balance only when it names the claim (rules §5)."""
        state = self.state
        left = amount
        self._settled = []
        for balance in state.carried:
            if left <= ZERO:
                break
            if balance.payer_id != facts.payer_id or balance.outstanding <= ZERO:
                continue
            if reference.claims and not balance.claims:  # opened before its claim was known
                balance.claims = claims_named_by(state, facts.payer_id, balance.tokens, (balance.payee_id,))
                if balance.claims:
                    state.note_carried_change(facts.payer_id, facts.order_key())
            if reference.claims and balance.claims:
                if reference.claims.isdisjoint(balance.claims):
                    continue
                if balance.payee_id != facts.payee_id and not sibling:
                    continue
            elif balance.payee_id != facts.payee_id or not balance.text or balance.text != reference.text:
                continue
            used = min(left, balance.outstanding)
            balance.outstanding -= used
            left -= used
            state.note_carried_change(facts.payer_id, facts.order_key())
            if balance.reason_code == "FB" and paid.by.reason_code == "FB" and balance.opened:
                self._closed_fb.append((balance.opened, frozenset(balance.takeback_ids)))
            self._settle_balance(facts, balance, used, paid)
        state.carried = [b for b in state.carried if b.outstanding > ZERO]
        return left

    def _settle_balance(self, facts: RemittanceFacts, balance: CarriedBalance, used: Decimal, paid: _Payment) -> None:
        """`used` of a balance is paid: its takebacks are settled by those parts, its NPI owes that much less."""
        state = self.state
        moved: list[tuple[str, Decimal]] = []
        left = used
        for event_id in balance.takeback_ids:
            takeback = state.takebacks[event_id]
            part = min(left, takeback.remaining or ZERO)
            if part <= ZERO:
                continue
            for by, amount in paid.parts(part):
                takeback = settle(takeback, _settlement(facts, by, amount))
            state.put(takeback)
            self._settled.append(event_id)
            self._netted.append(event_id)
            moved.append(("reversed" if takeback.kind == TakebackKind.reversal else "recouped", part))
            left -= part
        if left > ZERO:
            paid.parts(left)
            moved.append(("other_adjustments", left))
        if balance.payee_id == facts.payee_id:
            state.book(facts, "forward_balance", -used)
            return
        # Rules §5: a sibling NPI's payment paid the balance the claim's NPI carried: that NPI owes nothing more,
        # and what was netted from the sibling's payment moves to the sibling's row (each row keeps its invariant).
        state.book(facts, "forward_balance", -used, payee_id=balance.payee_id)
        for bucket, amount in moved:
            sign = -1 if bucket == "other_adjustments" else 1
            state.book(facts, bucket, -sign * amount, payee_id=balance.payee_id)
            state.book(facts, bucket, sign * amount)
        state.count_flags(facts, ["netted_for_other_provider"])

    def _write_off(self, facts: RemittanceFacts, position: int, adj: PlbFact, forgiven: Decimal) -> None:
        """Rules §4: a positive WO offset by a negative CS 'payer write off': the payer forgave (part of) it.

        The forgiven part settles what is carried under that reference (the provider no longer owes it) and is
        no takeback; a part of the WO beyond what was forgiven is recovered as usual.
        """
        forgiven = min(forgiven, adj.amount)
        write_off = adj.model_copy(update={"reason_code": PAYER_WRITE_OFF, "amount": forgiven})
        left = self._settle(facts, self._references[position], forgiven, _Payment(write_off, None), sibling=False)
        self.state.book(facts, "other_adjustments", -left)
        if adj.amount > forgiven:
            rest = adj.model_copy(update={"amount": adj.amount - forgiven})
            self._recovery(facts, position, rest, refund=None)

    # ---- recoveries

    def _recovery(self, facts: RemittanceFacts, position: int, adj: PlbFact, *, refund: PlbFact | None) -> None:
        """A WO/WU/J1: money recovered now; a settlement of a carried balance first (rules §4)."""
        reference = self._references[position]
        paid = _Payment(adj, refund)
        new_money = adj.amount
        settled_ids: list[str] = []
        if adj.reason_code == "WO" and adj.amount > ZERO:
            new_money = self._settle(facts, reference, adj.amount, paid)
            settled_ids = list(self._settled)
        settled = adj.amount - new_money
        if new_money <= ZERO and adj.amount > ZERO:
            self._book_refund(facts, paid, settled_ids)
            return
        linked = record_named_by(self.state, facts.payer_id, reference_tokens(adj.reference), self._prefer(facts, adj))
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
        settled_by = [_settlement(facts, by, amount) for by, amount in paid.parts(new_money)]
        refunded = any(s.method == TakebackMethod.refund for s in settled_by)
        event_id = stable_id(payee, facts.remittance_id, "plb", str(position))
        takeback = Takeback(
            event_id=event_id,
            kind=TakebackKind.recoupment,
            method=TakebackMethod.refund if refunded else TakebackMethod.offset,
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
            settled_by=settled_by,
            **recovery_fields(facts, adj, linked),
        )
        first_fields(takeback, self.rules, (linked.claim.filing_indicator,) if linked else (), facts.payee_state)
        note_claim(self.state, event_id, claim_ref(self.state, linked) if linked else None)
        self.state.put(with_status(takeback))
        self.state.book(facts, "recouped", new_money)
        self._netted.append(event_id)
        self._book_refund(facts, paid, [*settled_ids, event_id])

    def _prefer(self, facts: RemittanceFacts, adj: PlbFact) -> tuple[str, str]:
        """Rules §5: a reference names a claim of any NPI of the payee's TIN: PLB01's own first, then the payee's."""
        return (adj.provider_id, facts.payee_id)


def _settlement(facts: RemittanceFacts, by: PlbFact, amount: Decimal) -> Settlement:
    """What settled (part of) a takeback: a refund by check (72, B2), a payer write-off (CS), else an offset."""
    if by.reason_code in REFUND_CODES:
        method = TakebackMethod.refund
    elif by.reason_code == PAYER_WRITE_OFF:
        method = TakebackMethod.none
    else:
        method = TakebackMethod.offset
    return settled_in(facts, method, amount, by.reason_code)
