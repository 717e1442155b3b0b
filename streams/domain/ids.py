"""Deterministic ids: the same parts always give the same id, so re-processing re-publishes, never duplicates.

Also the one home of the ledger key: which ledger a remittance belongs to (rules §5)."""

from __future__ import annotations

import hashlib


def stable_id(*parts: object) -> str:
    """32 hex characters of SHA-256 over the parts joined by '|' (remittance, takeback, deposit and dead-letter
    ids); a missing part (None) counts as empty text."""
    return hashlib.sha256("|".join("" if p is None else str(p) for p in parts).encode()).hexdigest()[:32]


LEDGER_KEY_PREFIX = "tin-"
TIN_QUALIFIER = "FI"  # N103 = FI: N104 is the payee's federal taxpayer id


def ledger_key(payee_id: str, tin: str | None = None, id_qualifier: str | None = None) -> str:
    """Rules §5: the ledger of a remittance to this payee: one per TIN, as payers offset across the NPIs of a TIN.

    The TIN is REF*TJ of the payee loop, or N104 when N103 = FI; it is written without separators and hashed, so
    a sole proprietor's SSN never becomes a message key, a table key or an event field. A payee whose ERA gives no
    TIN has a ledger of its own, keyed by its id (N104).
    """
    digits = payee_tin(payee_id, tin, id_qualifier)
    return f"{LEDGER_KEY_PREFIX}{stable_id('tin', digits)[:20]}" if digits else payee_id


def payee_tin(payee_id: str, tin: str | None = None, id_qualifier: str | None = None) -> str:
    """The payee's TIN, written without separators (REF*TJ, else N104 when N103 = FI); "" when the ERA gives none."""
    taxpayer = tin or (payee_id if id_qualifier == TIN_QUALIFIER else None)
    return "".join(ch for ch in taxpayer or "" if ch.isalnum()).upper()
