"""The ledgers table: ProviderLedger objects stored as records in a Faust table of bytes."""

from __future__ import annotations

import faust

from streams.domain.ledger import ProviderLedger
from streams.domain.ledger_records import ledger_from_records, records_to_write
from streams.event_context import as_current_event


class LedgerTable:
    """ProviderLedger objects over a Faust table of bytes (what the changelog carries).

    A provider's key holds its header and each remittance's facts have a key of their own
    (streams/domain/ledger_records.py), so a write costs what changed, not the whole history.
    Decoded ledgers are cached and reused while the stored header is unchanged, so a ledger is decoded
    once, not once per remittance. The cache keeps the header's length and hash, not its bytes.
    """

    def __init__(self, table: faust.Table) -> None:
        self.table = table
        self._decoded: dict[str, tuple[int, int, ProviderLedger]] = {}

    def get(self, provider_id: str) -> ProviderLedger:
        raw = self.table.get(provider_id.encode())
        if raw is None:
            return ProviderLedger(provider_id=provider_id)
        cached = self._decoded.get(provider_id)
        # bytes cache their hash: O(1) for the memory store's own object, one pass over a RocksDB copy
        if cached is not None and cached[0] == len(raw) and cached[1] == hash(raw):
            return cached[2]
        ledger = ledger_from_records(raw, self.table.get)
        self._decoded[provider_id] = (len(raw), hash(raw), ledger)
        return ledger

    def put(self, ledger: ProviderLedger, event: faust.EventT) -> None:
        """Store what changed: new remittances' facts, then the header that makes them count.

        `event`: one of the provider's remittance events. Every record goes to that event's partition, the
        provider's (the table does not hash its keys: facts keys would hash elsewhere). A batch writes after
        its loop, so the writes run as if that event were being processed.
        """
        records = records_to_write(ledger)
        with as_current_event(event):
            for key, raw in records:
                self.table[key] = raw
        header = records[-1][1]
        self._decoded[ledger.provider_id] = (len(header), hash(header), ledger)
