"""How a PLB reference names things (rules §4): a set of tokens, any of which may be a claim or a trace,
resolved to the claim they name.

Only references that resolve to the same claim are one reference: a patient or member id shared by two claims
does not make them one, and a CLP01 reused for another patient (another member id or charge) is another claim.
A reference that resolves to no claim is compared by its exact text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the resolution reads the ledger's indexes; the tokens need nothing
    from schemas import Takeback
    from streams.domain.claim_index import ClaimRef, PaymentRecord
    from streams.domain.derived_state import DerivedState

_SEPARATORS = re.compile(r"[\s,;/]+")


def reference_tokens(reference: str | None) -> frozenset[str]:
    """Rules §4: a PLB reference is a set of tokens (ICN/FCN, CLP01, TRN02, patient id...), and the whole."""
    if not reference:
        return frozenset()
    whole = reference.strip()
    parts = {t for t in _SEPARATORS.split(whole) if t}
    return frozenset({whole, *parts})


def reference_text(reference: str | None) -> str:
    """The exact text a reference that resolves to no claim is compared by."""
    return (reference or "").strip()


MEDICARE_FCN_PREFIX = 2  # a Medicare FCN is the claim's ICN with two characters in front (rules §4)
MEDICARE_FCN_MIN_LENGTH = 12  # Medicare ICNs are 13 digits: a short token stripped would name claims by chance


def records_named_by(state: DerivedState, payer_id: str, tokens: frozenset[str]) -> list[PaymentRecord]:
    """Rules §4: the payments a reference names, first by the strongest name that finds any.

    CLP07, then CLP01, then REF*F8, then a Medicare FCN (the token without its two-character prefix as a CLP07).
    When they are of several claims and the reference also names a member id, only that member's claims.
    """
    ordered = sorted(tokens)
    for index, strip, shortest in (
        (state.payments_by_pcn, 0, 1),
        (state.payments_by_claim_id, 0, 1),
        (state.payments_by_f8, 0, 1),
        (state.payments_by_pcn, MEDICARE_FCN_PREFIX, MEDICARE_FCN_MIN_LENGTH),
    ):
        found = [r for t in ordered if len(t) >= shortest for r in index.get((payer_id, t[strip:]))]
        if found:
            members = [r for r in found if r.claim.patient and r.claim.patient[1] in tokens]
            return members or found
    return []


def record_named_by(
    state: DerivedState, payer_id: str, tokens: frozenset[str], prefer: Sequence[str]
) -> PaymentRecord | None:
    """The one payment a reference resolves to: of the NPIs in `prefer` (PLB01, the payee) in that order, then
    the latest (rules §4, §5)."""
    records = records_named_by(state, payer_id, tokens)

    def preference(r: PaymentRecord) -> tuple[tuple[bool, ...], tuple[str, str, str], int]:
        payee = r.remittance.payee_id
        return (tuple(payee == npi for npi in prefer), r.remittance.order_key(), r.position)

    return max(records, key=preference, default=None)


def claims_named_by(
    state: DerivedState, payer_id: str, tokens: frozenset[str], prefer: Sequence[str] = ()
) -> frozenset[ClaimRef]:
    """The claim a reference resolves to (none or one): two references naming one claim are one (rules §4)."""
    record = record_named_by(state, payer_id, tokens, prefer)
    return frozenset() if record is None else frozenset({claim_ref(state, record)})


_MAX_LINKS = 16  # a claim's payments chain through corrections; a bound keeps a malformed chain from looping


def claim_ref(state: DerivedState, record: PaymentRecord) -> ClaimRef:
    """The claim a payment belongs to, named by its first payment (rules §4).

    A later payment is of the same claim when it has the same CLP07, names an earlier one's CLP07 in REF*F8, or
    is the correction of a reversal of it (rules §3); a CLP01 alone makes no link, since account numbers are reused
    for other visits and patients.
    """
    for _ in range(_MAX_LINKS):
        earlier = state.claim_roots.get((record.remittance.remittance_id, record.position))
        if earlier is None:
            earlier = _first_under(state, record, record.claim.pcn) or _first_under(
                state, record, record.claim.original_reference
            )
        if earlier is None or earlier is record:
            break
        record = earlier
    return (record.remittance.payee_id, record.claim.claim_id, record.remittance.remittance_id, str(record.position))


def _first_under(state: DerivedState, record: PaymentRecord, pcn: str | None) -> PaymentRecord | None:
    """The first payment of the record's NPI with CLP07 `pcn`, when it came before the record."""
    if not pcn:
        return None
    for found in state.payments_by_pcn.get((record.remittance.payer_id, pcn)):
        if found is record:
            return None
        if found.remittance.payee_id == record.remittance.payee_id:
            return found
    return None


def original_of(state: DerivedState, takeback: Takeback) -> PaymentRecord | None:
    """The payment a claim reversal took back (rules §3), found by the link the reversal left on it."""
    if takeback.original_remittance_id is None:
        return None
    for index, key in (
        (state.payments_by_pcn, takeback.payer_claim_control_number),
        (state.payments_by_claim_id, takeback.claim_id),
    ):
        for record in index.get((takeback.payer_id, key)) if key else ():
            if record.reversed_by == takeback.event_id:
                return record
    return None


def keys_read_by(tokens: frozenset[str]) -> set[str]:
    """Every claim key `records_named_by` may look up for these tokens (the tokens, and their Medicare FCN form)."""
    keys = set(tokens)
    keys.update(t[MEDICARE_FCN_PREFIX:] for t in tokens if len(t) >= MEDICARE_FCN_MIN_LENGTH)
    return keys


@dataclass(frozen=True, slots=True)
class ResolvedReference:
    """A PLB reference as settlement and pairing compare it (rules §4): the claim it resolves to, else its text."""

    text: str
    claims: frozenset[ClaimRef] = frozenset()

    def same_as(self, other: ResolvedReference) -> bool:
        if self.claims and other.claims:
            return not self.claims.isdisjoint(other.claims)
        return bool(self.text) and self.text == other.text


def resolve(
    state: DerivedState | None, payer_id: str, reference: str | None, prefer: Sequence[str] = ()
) -> ResolvedReference:
    """A reference resolved among the ledger's claims (by its text alone when there is no state)."""
    if state is None:
        return ResolvedReference(reference_text(reference))
    claims = claims_named_by(state, payer_id, reference_tokens(reference), prefer)
    return ResolvedReference(reference_text(reference), claims)
