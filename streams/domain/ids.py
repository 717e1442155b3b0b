"""Deterministic ids: the same parts always give the same id, so re-processing re-publishes, never duplicates."""

from __future__ import annotations

import hashlib


def stable_id(*parts: str) -> str:
    """32 hex characters of SHA-256 over the parts joined by '|' (remittance, takeback and dead-letter ids)."""
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]
