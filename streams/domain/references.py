"""How a PLB reference names things (rules §4): a set of tokens, any of which may be a claim or a trace."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s,;/]+")


def reference_tokens(reference: str | None) -> frozenset[str]:
    """Rules §4: a PLB reference is a set of tokens (ICN/FCN, CLP01, TRN02, patient id...), and the whole."""
    if not reference:
        return frozenset()
    whole = reference.strip()
    parts = {t for t in _SEPARATORS.split(whole) if t}
    return frozenset({whole, *parts})
