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
from decimal import Decimal
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
    return frozenset() if record is None else frozenset({claim_ref(record)})


def claim_ref(record: PaymentRecord) -> ClaimRef:
    claim = record.claim
    member = claim.patient[1] if claim.patient else None
    return (record.remittance.payee_id, claim.claim_id, _money_key(claim.claim_charge()), member or "")


def takeback_claim_ref(takeback: Takeback) -> ClaimRef:
    """The claim a takeback takes back, in the form `claim_ref` gives (its charge is the original's)."""
    claim_id = takeback.claim_id or ""
    return (takeback.provider_id, claim_id, _money_key(takeback.claim_charge), takeback.member_id or "")


def _money_key(amount: Decimal | None) -> str:
    return "" if amount is None else f"{amount:.2f}"


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
