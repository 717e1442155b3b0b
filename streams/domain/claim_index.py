"""The payments a provider received, indexed by claim: where takebacks find the payment they undo (rules §3)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from streams.domain.facts import ClaimFact, RemittanceFacts

# One claim (rules §4), named by its first payment: (NPI, CLP01, that payment's remittance id, its position there).
# Payments of one claim share it (same CLP07, REF*F8, a correction); a CLP01 reused for another visit does not.
ClaimRef = tuple[str, str, str, str]


@dataclass(slots=True)
class PaymentRecord:
    """A claim payment the provider received: a candidate original for later takebacks."""

    remittance: RemittanceFacts
    claim: ClaimFact
    position: int
    reversed_by: str | None = None


def original_fields(original: PaymentRecord | None) -> dict[str, str | dt.date | None]:
    """The Takeback fields that name the payment taken back; all None for an orphan (rules §5)."""
    paid = original.remittance if original else None
    return {
        "original_trace_number": paid.trace_number if paid else None,
        "original_remittance_id": paid.remittance_id if paid else None,
        "original_effective_date": paid.effective_date if paid else None,
    }


class ClaimIndex:
    """(payer, claim key) -> the payments under it, oldest first.

    Memory matters here (one entry per claim per index, a million claims of state): keys are nested by
    payer instead of tuples, and the one payment most keys have is stored bare, not in a list.
    """

    __slots__ = ("_by_payer",)

    def __init__(self) -> None:
        self._by_payer: dict[str, dict[str, PaymentRecord | list[PaymentRecord]]] = {}

    def add(self, key: tuple[str, str], record: PaymentRecord) -> None:
        payer, claim_key = key
        records = self._by_payer.setdefault(payer, {})
        found = records.get(claim_key)
        if found is None:
            records[claim_key] = record
        elif isinstance(found, list):
            found.append(record)
        else:
            records[claim_key] = [found, record]

    def get(self, key: tuple[str, str]) -> list[PaymentRecord]:
        payer, claim_key = key
        found = self._by_payer.get(payer, {}).get(claim_key)
        if found is None:
            return []
        return found if isinstance(found, list) else [found]
