"""Claim-level takebacks (rules §3, §5): a reversal (CLP02 = 22) linked to the payment it undoes and to its correction.

A reversal finds its original by CLP07, else REF*F8, else CLP01 with the same amount, among the payments to its own
payee NPI (a ledger holds every NPI of a TIN, whose account numbers may collide); it is a reversal
when the original had not been disbursed yet, else a recoupment. An ordinary claim naming the same claim
in its remittance (before or after it) or later is its correction; a reversal without one past the wait is
flagged.
"""

from __future__ import annotations

import datetime as dt
import heapq
from decimal import Decimal

from schemas import REVERSAL_STATUS, ZERO, Settlement, Takeback, TakebackKind, TakebackMethod
from streams.domain.canonical_order import OrderKey
from streams.domain.claim_index import ClaimRef, PaymentRecord
from streams.domain.deadlines.takebacks import first_fields, note_claim
from streams.domain.derived_state import DerivedState, PendingReversal
from streams.domain.facts import ClaimFact, RemittanceFacts
from streams.domain.ids import stable_id
from streams.domain.match_policy import MatchPolicy
from streams.domain.reasons import PROVIDER_VOID, added_carcs, carcs, reason_of, remarks
from streams.domain.references import claim_ref, original_of
from streams.domain.takeback_status import revised, settled_in, with_status
from streams.domain.work_fields import correction_fields, original_patient_responsibility, reversal_fields


class ClaimMatcher:
    """Applies the claims of remittances, in canonical order, to derived state."""

    def __init__(self, state: DerivedState, policy: MatchPolicy) -> None:
        self.state = state
        self.policy = policy
        self._corrections_used: set[int] = set()  # positions in the current remittance already linked as corrections
        self._order_key: OrderKey = ("", "", "")  # the current remittance's, shared by its reversals' sequences

    def apply(self, facts: RemittanceFacts) -> None:
        paid = ZERO
        self._corrections_used.clear()
        self._order_key = facts.order_key()
        claims = facts.claims
        below = _last_reversal_of(claims)
        last = max(below.values(), default=-1)
        for position, claim in enumerate(claims):
            if claim.status_code == REVERSAL_STATUS and claim.payment <= ZERO:
                self._reversal(facts, position, claim)
            else:
                # Rules §3: a claim listed before a reversal of the same claim in its remittance belongs to this
                # remittance's reversals (the correction of one above it, or the original or correction of the one
                # below), not to a reversal of an earlier remittance.
                reversed_below = position < last and (
                    below.get(claim.claim_id, -1) > position
                    or below.get(claim.pcn, -1) > position
                    or below.get(claim.original_reference, -1) > position
                )
                self._payment(facts, position, claim, only_here=bool(reversed_below))
                paid += claim.payment
        self.state.book(facts, "claim_payments", paid)  # once per remittance: this loop is the hot path

    def flag_overdue_corrections(self) -> None:
        """Rules §5: a reversal with no correction past the wait often means a full takeback nobody chases."""
        state = self.state
        today = state.last_key[0]
        if not today:
            return
        cutoff = (dt.date.fromisoformat(today) - dt.timedelta(days=self.policy.correction_wait_days)).isoformat()
        heap = state.overdue_heap
        while heap and heap[0][0] < cutoff:
            *_, event_id = heapq.heappop(heap)
            if event_id in state.awaiting_correction:
                takeback = state.takebacks[event_id]
                flags = [*takeback.flags, "correction_overdue"]
                state.put(revised(takeback, flags=flags))

    # ---- payments and their corrections

    def _payment(self, facts: RemittanceFacts, position: int, claim: ClaimFact, *, only_here: bool) -> None:
        record = PaymentRecord(facts, claim, position)
        state = self.state
        if claim.pcn:
            state.payments_by_pcn.add((facts.payer_id, claim.pcn), record)
        if claim.original_reference:
            state.payments_by_f8.add((facts.payer_id, claim.original_reference), record)
        state.payments_by_claim_id.add((facts.payer_id, claim.claim_id), record)
        if claim.status_code != REVERSAL_STATUS and self._link_correction(facts, record, only_here=only_here):
            self._corrections_used.add(position)

    def _link_correction(self, facts: RemittanceFacts, record: PaymentRecord, *, only_here: bool) -> bool:
        """Rules §3: a claim after a reversal corrects it when it names the same claim: by CLP07 or REF*F8 in any
        later remittance; by CLP01 alone only in the same remittance, or within the wait with the same charge."""
        state, claim = self.state, record.claim
        awaiting = state.awaiting_correction
        waiting = {
            event_id
            for kind, value in (("pcn", claim.pcn), ("pcn", claim.original_reference))
            if value
            for event_id in state.awaiting_by_key.get((facts.payer_id, kind, value), ())
            if event_id in awaiting and state.takebacks[event_id].payee_provider_id == facts.payee_id
        }
        for event_id in state.awaiting_by_key.get((facts.payer_id, "claim", claim.claim_id), ()):
            if (
                event_id in awaiting
                and state.takebacks[event_id].payee_provider_id == facts.payee_id
                and self._corrects_by_account(facts, claim, state.takebacks[event_id])
            ):
                waiting.add(event_id)
        if only_here:
            waiting = {e for e in waiting if state.takebacks[e].remittance_id == facts.remittance_id}
        if not waiting:
            return False
        event_id = min(waiting, key=lambda e: awaiting[e].sequence)  # the earliest reversal first
        pending = self._stop_awaiting(state.takebacks[event_id])
        state.put(_corrected(state.takebacks[event_id], claim, pending))
        original = original_of(state, state.takebacks[event_id])
        if original is not None:  # rules §4: the correction is a payment of the claim its reversal took back
            state.claim_roots[(facts.remittance_id, record.position)] = original
        return True

    def _corrects_by_account(self, facts: RemittanceFacts, claim: ClaimFact, reversal: Takeback) -> bool:
        """Rules §3: an account number (CLP01) is reused by new visits; alone it links only what is plainly the same
        claim: in the reversal's remittance, or soon after (the correction wait) with the same charge."""
        if reversal.remittance_id == facts.remittance_id:
            return True
        if claim.charge is None or claim.claim_charge() != reversal.claim_charge:
            return False
        if not (facts.takeback_date and reversal.takeback_date):
            return False
        return (facts.takeback_date - reversal.takeback_date).days <= self.policy.correction_wait_days

    # ---- reversals

    def _reversal(self, facts: RemittanceFacts, position: int, claim: ClaimFact) -> None:
        amount = -claim.payment
        original = self._find_original(facts, claim, amount)
        kind, method = classify(facts, original)
        event_id = stable_id(facts.payee_id, facts.remittance_id, "claim", str(position))
        flags = list(claim.flags)
        if amount == ZERO:
            flags.append("zero_amount")
        if original is None:
            flags.append("original_not_found")
        else:
            original.reversed_by = event_id
            if original.claim.line_level and not claim.line_level:
                flags.append("claim_level_reversal_of_line_level_payment")
        before = original.claim.reason_codes if original else claim.reason_codes
        pending = PendingReversal(
            sequence=(self._order_key, position),
            before=before,
            patient_responsibility=original_patient_responsibility(claim, original),
            void=PROVIDER_VOID in (claim.frequency_code, original.claim.frequency_code if original else None),
        )
        takeback = Takeback(
            event_id=event_id,
            kind=kind,
            method=method,
            amount=amount,
            provider_id=facts.payee_id,
            payee_provider_id=facts.payee_id,
            payer_id=facts.payer_id,
            payer_name=facts.payer_name,
            claim_id=claim.claim_id,
            payer_claim_control_number=claim.pcn,
            trace_number=facts.trace_number,
            remittance_id=facts.remittance_id,
            takeback_date=facts.takeback_date,
            reason_codes=claim.reason_codes,
            reason_category=reason_of(
                added_carcs(claim.reason_codes, before) if original else carcs(claim.reason_codes),
                remarks(claim.reason_codes),
                has_correction=False,
                void=pending.void,
            ),
            flags=flags,
            settled_by=_netted_here(facts, amount),
            **reversal_fields(facts, claim, original),
        )
        indicators = (claim.filing_indicator, original.claim.filing_indicator if original else None)
        first_fields(takeback, self.policy.rules, indicators, facts.payee_state)
        correction = self._correction_listed_before(facts, position, claim, original)
        if correction is not None:
            takeback = _corrected(takeback, correction.claim, pending)
            if original is not None:  # rules §4: the correction is a payment of the claim the reversal took back
                self.state.claim_roots[(facts.remittance_id, correction.position)] = original
        else:
            self._await_correction(takeback, pending)
        self.state.put(with_status(takeback))
        note_claim(
            self.state, event_id, claim_ref(self.state, original) if original else self._reversed_before(facts, claim)
        )
        self.state.takebacks_by_claim.setdefault((facts.payer_id, claim.claim_id), []).append(event_id)
        self.state.book(facts, "reversed" if kind == TakebackKind.reversal else "recouped", amount)

    def _find_original(self, facts: RemittanceFacts, claim: ClaimFact, amount: Decimal) -> PaymentRecord | None:
        """Rules §3: same payer and CLP07; else REF*F8; else same CLP01 with the same amount (latest first).

        An earlier remittance's payment first: a claim of the reversal's own remittance is its original only when
        no earlier payment exists (a remittance that pays and reverses a claim); otherwise it is the correction.
        """
        payer = facts.payer_id
        lookups: list[list[PaymentRecord]] = []
        if claim.pcn:
            lookups.append(self.state.payments_by_pcn.get((payer, claim.pcn)))
        if claim.original_reference:
            lookups.append(self.state.payments_by_pcn.get((payer, claim.original_reference)))
        by_claim_id = self.state.payments_by_claim_id.get((payer, claim.claim_id))
        lookups.append([p for p in by_claim_id if p.claim.payment == amount])
        here, payee = facts.remittance_id, facts.payee_id
        for earlier in (True, False):
            for records in lookups:
                open_records = [
                    p
                    for p in reversed(records)
                    if p.reversed_by is None
                    and p.remittance.payee_id == payee  # a payer reverses a claim to the NPI it paid (rules §5)
                    and p.claim.status_code != REVERSAL_STATUS
                    and (p.remittance.remittance_id != here) == earlier
                ]
                if open_records:
                    same_amount = [p for p in open_records if p.claim.payment == amount]
                    return (same_amount or open_records)[0]
        return None

    def _reversed_before(self, facts: RemittanceFacts, claim: ClaimFact) -> ClaimRef | None:
        """Rules §13: a reversal finding no payment left to reverse, of a payment already reversed under its CLP07:
        the claim reversed twice (a second recovery of it, not an orphan of another claim)."""
        if not claim.pcn:
            return None
        for record in reversed(self.state.payments_by_pcn.get((facts.payer_id, claim.pcn))):
            if (
                record.reversed_by is not None
                and record.remittance.payee_id == facts.payee_id
                and record.claim.status_code != REVERSAL_STATUS
            ):
                return claim_ref(self.state, record)
        return None

    def _correction_listed_before(
        self, facts: RemittanceFacts, position: int, claim: ClaimFact, original: PaymentRecord | None
    ) -> PaymentRecord | None:
        """Rules §3: the correction may come before its reversal in the remittance (RFI 791): the nearest claim
        above it naming the same claim (CLP07, REF*F8 or CLP01) that is not its original."""
        if position == 0:
            return None
        state, payer = self.state, facts.payer_id
        candidates = [
            *(state.payments_by_pcn.get((payer, claim.pcn)) if claim.pcn else ()),
            *(state.payments_by_f8.get((payer, claim.pcn)) if claim.pcn else ()),
            *state.payments_by_claim_id.get((payer, claim.claim_id)),
        ]
        here = [
            r
            for r in candidates
            if r.remittance.remittance_id == facts.remittance_id
            and r is not original
            and r.reversed_by is None
            and r.claim.status_code != REVERSAL_STATUS
            and r.position not in self._corrections_used
        ]
        if not here:
            return None
        nearest = max(here, key=lambda r: r.position)
        self._corrections_used.add(nearest.position)
        return nearest

    def _await_correction(self, takeback: Takeback, pending: PendingReversal) -> None:
        state = self.state
        state.awaiting_correction[takeback.event_id] = pending
        for key in _awaiting_keys(takeback):
            state.awaiting_by_key.setdefault(key, []).append(takeback.event_id)
        if takeback.amount > ZERO and takeback.takeback_date:
            entry = (takeback.takeback_date.isoformat(), *pending.sequence, takeback.event_id)
            heapq.heappush(state.overdue_heap, entry)

    def _stop_awaiting(self, takeback: Takeback) -> PendingReversal:
        """A reversal got its correction. It stays in `awaiting_by_key` (lookups skip it): a late remittance's reach
        includes every reversal its keys found, corrected or not (streams/domain/late_arrival.py)."""
        state = self.state
        return state.awaiting_correction.pop(takeback.event_id)


def _awaiting_keys(takeback: Takeback) -> list[tuple[str, str, str]]:
    """The keys a correction can find a waiting reversal by: its CLP07 and its CLP01, under its payer."""
    keys = [("pcn", takeback.payer_claim_control_number), ("claim", takeback.claim_id)]
    return [(takeback.payer_id, kind, value) for kind, value in keys if value]


def _last_reversal_of(claims: list[ClaimFact]) -> dict[str | None, int]:
    """CLP07 and CLP01 of the remittance's reversals -> the position of the last one (usually empty)."""
    below: dict[str | None, int] = {}
    for position, claim in enumerate(claims):
        if claim.status_code == REVERSAL_STATUS and claim.payment <= ZERO:
            if claim.pcn:
                below[claim.pcn] = position
            below[claim.claim_id] = position
    below.pop(None, None)
    return below


def _netted_here(facts: RemittanceFacts, amount: Decimal) -> list[Settlement]:
    """Rules §5, §8a: a takeback is netted from the payment that reports it, unless a carry there says otherwise."""
    if amount <= ZERO:
        return []
    return [settled_in(facts, TakebackMethod.offset, amount)]


def _corrected(takeback: Takeback, correction: ClaimFact, pending: PendingReversal) -> Takeback:
    """The takeback with its correction linked; its reason from what the correction changed (rules §3, §6)."""
    codes = list(dict.fromkeys([*takeback.reason_codes, *correction.reason_codes]))
    return revised(
        takeback,
        flags=[f for f in takeback.flags if f != "correction_overdue"],
        correction_claim_id=correction.claim_id,
        correction_payment=correction.payment,
        net_change=correction.payment - takeback.amount,
        reason_codes=codes,
        reason_category=reason_of(
            added_carcs(correction.reason_codes, pending.before),
            [*remarks(correction.reason_codes), *remarks(takeback.reason_codes)],
            has_correction=True,
            void=pending.void,
        ),
        **correction_fields(correction, pending.patient_responsibility),
    )


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
