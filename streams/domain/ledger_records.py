"""How a ProviderLedger is stored: a small header per provider, and each remittance's facts once, under its own key.

A ledger stored as one value made every write the provider's whole history: with 1M claims of state a batch's
ledger writes (JSON of every fact, then the changelog send) were a fifth of a worker's time. Then the header still
carried every published takeback and every remittance id, so a write still grew with history. Now a write is the
remittances applied since the last one, each with the takeback revisions it published, plus a header of constant
size: the provider and how many remittances count. Remittance N (in the order applied) is under key N, so the
header needs no list of ids; the published takebacks are rebuilt by reading the records in order (a later
revision replaces an earlier one).

Crash safety (the rule that a dedupe marker travels with the amounts it guards): a remittance counts once the
header's count covers its position. Its record is written first, to the same changelog partition (records of one
partition stay in order), so a stored header never counts records that are not stored. Records past the count,
left by a crash between the two, count for nothing and are overwritten when the remittances are re-delivered.

Plain functions over bytes, so the table layer stays thin and this is testable without a broker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from itertools import islice

from pydantic import BaseModel, ConfigDict, ValidationError

from schemas import Takeback
from streams.domain.derived_state import share_fields_set
from streams.domain.facts import RemittanceFacts, claim_from_row, claim_row
from streams.domain.ledger import ProviderLedger

# Record keys are "<provider id><US><position>". The ASCII unit separator cannot appear in a provider id (an X12
# element cannot hold control characters), so no record key can equal a provider's key.
KEY_SEPARATOR = "\x1f"


class LedgerHeader(BaseModel):
    """A provider's stored header: its remittances at positions 0 .. applied - 1 count, in the order applied."""

    model_config = ConfigDict(extra="forbid")  # a header of an earlier format is refused, not half-read

    provider_id: str
    applied: int
    elsewhere: dict[str, str] = {}  # rules §2: ProviderLedger.elsewhere


class UnreadableLedger(RuntimeError):
    """A stored ledger that cannot be read: records missing (a damaged store) or an earlier format."""


def facts_key(provider_id: str, position: int) -> bytes:
    return f"{provider_id}{KEY_SEPARATOR}{position}".encode()


def is_facts_key(key: bytes) -> bool:
    return KEY_SEPARATOR.encode() in key


def records_to_write(ledger: ProviderLedger) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs to store, in order: records of the remittances applied since the last write, then the header.

    Those remittances are the last ones of `ledger.remittances` (a ledger appends what it applies and forgets
    only a remittance that failed before it was stored), so their positions follow the stored ones.
    """
    unsaved = [rid for rid in ledger.take_unsaved() if rid in ledger.remittances]
    first = len(ledger.remittances) - len(unsaved)
    if list(islice(reversed(ledger.remittances), len(unsaved)))[::-1] != unsaved:
        raise RuntimeError(f"ledger {ledger.provider_id}: remittances to store are not the last ones applied")
    records = [
        (facts_key(ledger.provider_id, first + offset), _record(ledger, rid)) for offset, rid in enumerate(unsaved)
    ]
    header = LedgerHeader(provider_id=ledger.provider_id, applied=len(ledger.remittances), elsewhere=ledger.elsewhere)
    records.append((ledger.provider_id.encode(), header.model_dump_json(exclude_defaults=True).encode()))
    return records


def _record(ledger: ProviderLedger, remittance_id: str) -> bytes:
    """A remittance's record: its facts (each claim an array, `claim_row`) and the latest revision, at this write,
    of each takeback it published."""
    facts = ledger.remittances[remittance_id]
    document = facts.model_dump(mode="json", exclude={"claims"})
    document["claims"] = [claim_row(claim) for claim in facts.claims]
    published = [ledger.emitted[e].model_dump(mode="json") for e in facts.published if e in ledger.emitted]
    return json.dumps({"facts": document, "takebacks": published}, separators=(",", ":")).encode()


def _read_record(raw: bytes) -> tuple[RemittanceFacts, list[Takeback]]:
    try:
        record = json.loads(raw)
        document = record["facts"]
        rows = document.pop("claims")
        facts = RemittanceFacts.model_validate(document)
        facts.claims = [claim_from_row(row) for row in rows]
        takebacks = [Takeback.model_validate(t) for t in record["takebacks"]]
    except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError and InvalidRemittance included
        raise UnreadableLedger(f"a stored ledger record is malformed ({type(exc).__name__}: {exc})") from None
    for takeback in takebacks:
        share_fields_set(takeback)
    return facts, takebacks


def ledger_from_records(header_raw: bytes, read: Callable[[bytes], bytes | None]) -> ProviderLedger:
    """Rebuild a ledger from its stored header, reading each remittance's record with `read(key)`."""
    try:
        header = LedgerHeader.model_validate_json(header_raw)
    except ValidationError:
        raise UnreadableLedger(
            "a stored ledger header is not in the format this version writes (an earlier version's store?): "
            "start from an empty store and publish the inputs again"
        ) from None
    remittances: dict[str, RemittanceFacts] = {}
    emitted: dict[str, Takeback] = {}
    for position in range(header.applied):
        raw = read(facts_key(header.provider_id, position))
        if raw is None:
            raise UnreadableLedger(
                f"the stored ledger of provider {header.provider_id} counts {header.applied} remittances, and the "
                f"record of number {position} is not in the table; the store is damaged (restore it from the changelog)"
            )
        facts, takebacks = _read_record(raw)
        remittances[facts.remittance_id] = facts
        for takeback in takebacks:  # in the order applied: a later revision replaces an earlier one
            emitted[takeback.event_id] = takeback
    return ProviderLedger.restored(header.provider_id, remittances, emitted, header.elsewhere)
