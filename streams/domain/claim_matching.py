"""Claim-level takebacks (rules §3, §5): a reversal (CLP02 = 22) linked to the payment it undoes and to its correction.

A reversal finds its original by CLP07, else REF*F8, else CLP01 with the same amount; it is a reversal
when the original had not been disbursed yet, else a recoupment. A later ordinary claim naming the
same claim is its correction; a reversal without one past the wait is flagged.
"""

from __future__ import annotations

import datetime as dt
import heapq
from decimal import Decimal

from schemas import REVERSAL_STATUS, ZERO, Takeback, TakebackKind, TakebackMethod
from streams.domain.claim_index import PaymentRecord, original_fields
from streams.domain.derived_state import DerivedState
from streams.domain.facts import ClaimFact, RemittanceFacts
from streams.domain.ids import stable_id
from streams.domain.match_policy import MatchPolicy
from streams.domain.reasons import categorize


class ClaimMatcher:
    """Applies the claims of remittances, in canonical order, to derived state."""

    def __init__(self, state: DerivedState, provider_id: str, policy: MatchPolicy) -> None:
        self.state = state
        self.provider_id = provider_id
        self.policy = policy

    def apply(self, facts: RemittanceFacts) -> None:
        paid = ZERO
        for position, claim in enumerate(facts.claims):
            if claim.status_code == REVERSAL_STATUS and claim.payment <= ZERO:
                self._reversal(facts, position, claim)
            else:
                self._payment(facts, position, claim)
                paid += claim.payment
        self.state.book(facts.payer_id, "claim_payments", paid)  # once per remittance: this loop is the hot path

    def flag_overdue_corrections(self) -> None:
        """Rules §5: a reversal with no correction past the wait often means a full takeback nobody chases."""
        state = self.state
        today = state.last_key[0]
        if not today:
            return
        cutoff = (dt.date.fromisoformat(today) - dt.timedelta(days=self.policy.correction_wait_days)).isoformat()
        heap = state.overdue_heap
        while heap and heap[0][0] < cutoff:
            _, _, event_id = heapq.heappop(heap)
            if event_id in state.awaiting_correction:
                takeback = state.takebacks[event_id]
                state.put(takeback.model_copy(update={"flags": [*takeback.flags, "correction_overdue"]}))

    # ---- payments and their corrections

    def _payment(self, facts: RemittanceFacts, position: int, claim: ClaimFact) -> None:
        record = PaymentRecord(facts, claim, position)
        if claim.pcn:
            self.state.payments_by_pcn.add((facts.payer_id, claim.pcn), record)
        self.state.payments_by_claim_id.add((facts.payer_id, claim.claim_id), record)
        if claim.status_code != REVERSAL_STATUS:
            self._link_correction(facts, record)

    def _link_correction(self, facts: RemittanceFacts, record: PaymentRecord) -> None:
        """Rules §3: the correction follows its reversal (same remittance or later), linked by CLP07/F8/CLP01."""
        claim = record.claim
        state = self.state
        keys = [("pcn", claim.pcn), ("pcn", claim.original_reference), ("claim", claim.claim_id)]
        waiting = {
            event_id
            for kind, value in keys
            if value
            for event_id in state.awaiting_by_key.get((facts.payer_id, kind, value), ())
            if event_id in state.awaiting_correction
        }
        if waiting:
            event_id = min(waiting, key=state.awaiting_correction.__getitem__)  # the earliest reversal first
            takeback = state.takebacks[event_id]
            del state.awaiting_correction[event_id]
            codes = list(dict.fromkeys([*takeback.reason_codes, *claim.reason_codes]))
            state.put(
                takeback.model_copy(
                    update={
                        "flags": [f for f in takeback.flags if f != "correction_overdue"],
                        "correction_claim_id": claim.claim_id,
                        "correction_payment": claim.payment,
                        "net_change": claim.payment - takeback.amount,
                        "reason_codes": codes,
                        "reason_category": categorize(
                            claim.reason_codes or takeback.reason_codes, has_correction=True, plb_reason_code=None
                        ),
                    }
                )
            )

    # ---- reversals

    def _reversal(self, facts: RemittanceFacts, position: int, claim: ClaimFact) -> None:
        amount = -claim.payment
        original = self._find_original(facts, claim, amount)
        kind, method = classify(facts, original)
        event_id = stable_id(self.provider_id, facts.remittance_id, "claim", str(position))
        flags = list(claim.flags)
        if amount == ZERO:
            flags.append("zero_amount")
        if original is None:
            flags.append("original_not_found")
        else:
            original.reversed_by = event_id
            if original.claim.line_level and not claim.line_level:
                flags.append("claim_level_reversal_of_line_level_payment")
        takeback = Takeback(
            event_id=event_id,
            kind=kind,
            method=method,
            amount=amount,
            provider_id=self.provider_id,
            payee_provider_id=self.provider_id,
            payer_id=facts.payer_id,
            payer_name=facts.payer_name,
            claim_id=claim.claim_id,
            payer_claim_control_number=claim.pcn,
            **original_fields(original),
            trace_number=facts.trace_number,
            remittance_id=facts.remittance_id,
            takeback_date=facts.takeback_date,
            reason_codes=claim.reason_codes,
            reason_category=categorize(claim.reason_codes, has_correction=False, plb_reason_code=None),
            flags=flags,
        )
        self.state.put(takeback)
        self._await_correction(takeback)
        self.state.book(facts.payer_id, "reversed" if kind == TakebackKind.reversal else "recouped", amount)

    def _find_original(self, facts: RemittanceFacts, claim: ClaimFact, amount: Decimal) -> PaymentRecord | None:
        """Rules §3: same payer and CLP07; else REF*F8; else same CLP01 with the same amount (latest first)."""
        payer = facts.payer_id
        lookups: list[list[PaymentRecord]] = []
        if claim.pcn:
            lookups.append(self.state.payments_by_pcn.get((payer, claim.pcn)))
        if claim.original_reference:
            lookups.append(self.state.payments_by_pcn.get((payer, claim.original_reference)))
        by_claim_id = self.state.payments_by_claim_id.get((payer, claim.claim_id))
        lookups.append([p for p in by_claim_id if p.claim.payment == amount])
        for records in lookups:
            open_records = [
                p for p in reversed(records) if p.reversed_by is None and p.claim.status_code != REVERSAL_STATUS
            ]
            if open_records:
                same_amount = [p for p in open_records if p.claim.payment == amount]
                return (same_amount or open_records)[0]
        return None

    def _await_correction(self, takeback: Takeback) -> None:
        state = self.state
        state.sequence += 1
        sequence = state.sequence
        state.awaiting_correction[takeback.event_id] = sequence
        keys = [("pcn", takeback.payer_claim_control_number), ("claim", takeback.claim_id)]
        for kind, value in keys:
            if value:
                state.awaiting_by_key.setdefault((takeback.payer_id, kind, value), []).append(takeback.event_id)
        if takeback.amount > ZERO and takeback.takeback_date:
            heapq.heappush(state.overdue_heap, (takeback.takeback_date.isoformat(), sequence, takeback.event_id))


def classify(facts: RemittanceFacts, original: PaymentRecord | None) -> tuple[TakebackKind, TakebackMethod]:
    """Rules §5: a recoupment when the original payment had been disbursed, else a reversal.

    An orphan (no original found yet) is reported as a recoupment by offset.
    """
    if original is None:
        return TakebackKind.recoupment, TakebackMethod.offset
    paid = original.remittance
    if paid.remittance_id == facts.remittance_id or not paid.moved_money:
        return TakebackKind.reversal, TakebackMethod.none
    if paid.effective_date and facts.takeback_date and paid.effective_date > facts.takeback_date:
        return TakebackKind.reversal, TakebackMethod.none
    return TakebackKind.recoupment, TakebackMethod.offset
