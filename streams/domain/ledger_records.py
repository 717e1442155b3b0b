"""How a ProviderLedger is stored: a small header per provider, and each remittance's facts once, under its own key.

A ledger stored as one value made every write the provider's whole history: with 1M claims of state a batch's
ledger writes (JSON of every fact, then the changelog send) were a fifth of a worker's time. Now a write is the
remittances applied since the last one, plus the header.

Crash safety (the rule that a dedupe marker travels with the amounts it guards): a remittance counts once its
id is in the header. Its facts are written first, to the same changelog partition (records of one partition
stay in order), so a stored header never names facts that are not stored. Facts without a header entry, left
by a crash between the two, count for nothing and are written again when the remittance is re-delivered.

Plain functions over bytes, so the table layer stays thin and this is testable without a broker.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pydantic import BaseModel

from schemas import Takeback
from streams.domain.facts import RemittanceFacts
from streams.domain.ledger import ProviderLedger

# Facts keys are "<provider id><US><remittance id>". The ASCII unit separator appears in neither id (both come
# from X12 elements, which cannot hold control characters), so no facts key can equal a provider's key.
KEY_SEPARATOR = "\x1f"


class LedgerHeader(BaseModel):
    """A provider's stored header: which remittances count (in the order they were applied) and what was published."""

    provider_id: str
    remittance_ids: list[str] = []
    emitted: dict[str, Takeback] = {}  # event_id -> latest published revision


class MissingFacts(RuntimeError):
    """A header names a remittance whose facts are not in the store (a damaged store, not a crash)."""


def facts_key(provider_id: str, remittance_id: str) -> bytes:
    return f"{provider_id}{KEY_SEPARATOR}{remittance_id}".encode()


def is_facts_key(key: bytes) -> bool:
    return KEY_SEPARATOR.encode() in key


def records_to_write(ledger: ProviderLedger) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs to store, in order: facts of the remittances applied since the last write, then the header."""
    records = [
        (facts_key(ledger.provider_id, rid), ledger.remittances[rid].model_dump_json().encode())
        for rid in ledger.take_unsaved()
        if rid in ledger.remittances
    ]
    ids = list(ledger.remittances)
    header = LedgerHeader(provider_id=ledger.provider_id, remittance_ids=ids, emitted=ledger.emitted)
    records.append((ledger.provider_id.encode(), header.model_dump_json().encode()))
    return records


def ledger_from_records(header_raw: bytes, read: Callable[[bytes], bytes | None]) -> ProviderLedger:
    """Rebuild a ledger from its stored header, reading each remittance's facts with `read(key)`.

    A value in the earlier one-value format (the whole ledger) is read as it is, and all of its remittances
    are written out as facts on the next write.
    """
    if b'"remittances"' in header_raw and "remittances" in json.loads(header_raw):
        ledger = ProviderLedger.model_validate_json(header_raw)
        ledger.mark_all_unsaved()
        return ledger
    header = LedgerHeader.model_validate_json(header_raw)
    remittances: dict[str, RemittanceFacts] = {}
    for rid in header.remittance_ids:
        raw = read(facts_key(header.provider_id, rid))
        if raw is None:
            raise MissingFacts(
                f"the stored ledger of provider {header.provider_id} names remittance {rid}, whose facts are not "
                "in the table; the store is damaged (restore it from the changelog)"
            )
        remittances[rid] = RemittanceFacts.model_validate_json(raw)
    return ProviderLedger.restored(header.provider_id, remittances, header.emitted)
