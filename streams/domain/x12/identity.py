"""Remittance identity (rules §2): the same payment with the same body always gets the same id.

A re-sent ERA in a new envelope gets the id it had, so it is recognised as a duplicate; a
remittance rebuilt from its JSON event gets it too.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from schemas import ZERO, Payment
from streams.domain.ids import stable_id
from streams.domain.x12.tokenizer import Delimiters


def remittance_id(payer_id: str, trace_number: str, payee_id: str, payment: Payment, body_hash: str) -> str:
    """Rules §2 identity: payer, TRN02, payee, BPR02, BPR16 and the body hash (32 hex characters).

    BPR02 is written without trailing zeros and BPR16 as an ISO date, so a remittance rebuilt
    from its JSON event gets the same id."""
    effective = payment.effective_date.isoformat() if payment.effective_date else ""
    return stable_id(payer_id, trace_number, payee_id, canonical_amount(payment.amount), effective, body_hash)


def canonical_amount(amount: Decimal) -> str:
    """Amount for an id: the same value always gives the same text (1500.50 == 1500.5)."""
    if amount == ZERO:
        return "0"
    return format(amount.normalize(), "f")


def body_hash(segments: list[str], delimiters: Delimiters) -> str:
    """SHA-256 of the segments between ST and SE, normalized to '*', ':' and '~' (no envelope in it)."""
    if not delimiters.standard:
        table = str.maketrans({delimiters.element: "*", delimiters.component: ":"})
        segments = [text.translate(table) for text in segments]
    return hashlib.sha256("~".join(segments).encode("latin-1")).hexdigest()
