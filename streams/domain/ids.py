"""Deterministic ids: the same parts always give the same id, so re-processing re-publishes, never duplicates."""

from __future__ import annotations

import hashlib


def stable_id(*parts: object) -> str:
    """32 hex characters of SHA-256 over the parts joined by '|' (remittance, takeback, deposit and dead-letter
    ids); a missing part (None) counts as empty text."""
    return hashlib.sha256("|".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:32]
