"""How a PLB reference names things (rules §4): a set of tokens, any of which may be a claim or a trace,
resolved to the claims they name."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the resolution reads the ledger's indexes; the tokens need nothing
    from streams.domain.claim_index import PaymentRecord
    from streams.domain.derived_state import DerivedState

_SEPARATORS = re.compile(r"[\s,;/]+")


def reference_tokens(reference: str | None) -> frozenset[str]:
    """Rules §4: a PLB reference is a set of tokens (ICN/FCN, CLP01, TRN02, patient id...), and the whole."""
    if not reference:
        return frozenset()
    whole = reference.strip()
    parts = {t for t in _SEPARATORS.split(whole) if t}
    return frozenset({whole, *parts})


MEDICARE_FCN_PREFIX = 2  # a Medicare FCN is the claim's ICN with two characters in front (rules §4)
MEDICARE_FCN_MIN_LENGTH = 12  # Medicare ICNs are 13 digits: a short token stripped would name claims by chance


def records_named_by(state: DerivedState, payer_id: str, tokens: frozenset[str]) -> list[PaymentRecord]:
    """Rules §4: the payments a reference names, first by the strongest name that finds any.

    CLP07, then CLP01, then REF*F8, then a Medicare FCN (the token without its two-character prefix as a CLP07).
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
            return found
    return []


def keys_read_by(tokens: frozenset[str]) -> set[str]:
    """Every claim key `records_named_by` may look up for these tokens (the tokens, and their Medicare FCN form)."""
    keys = set(tokens)
    keys.update(t[MEDICARE_FCN_PREFIX:] for t in tokens if len(t) >= MEDICARE_FCN_MIN_LENGTH)
    return keys


def claims_named_by(state: DerivedState, payer_id: str, tokens: frozenset[str]) -> frozenset[str]:
    """The claims (CLP01) a reference resolves to: two references naming one claim are one reference (rules §4)."""
    return frozenset(r.claim.claim_id for r in records_named_by(state, payer_id, tokens))
