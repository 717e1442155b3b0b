"""Whether the ingest agent may apply a remittance where it read it: its ledger is in this worker, in that partition.

A ledger's records live in the ledgers table's partition that its key hashes to (Kafka's default partitioner,
murmur2, over TAKEBACK_PARTITIONS), the partition of `remittances.rekeyed` it would be forwarded on. Feeds key
era.raw by ledger key (`streams.domain.chunking.ledger_key_of`), so an input's remittances usually hash to the
partition it was read from, which faust assigns to this worker together with that table partition. Applying them
there saves a hop through the broker: publishing, fetching and decoding the remittance again. Anything else (a feed
keying otherwise, `replay`'s single partition, an input paying two TINs) goes on `remittances.rekeyed`.
"""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from faust.types import TP

from streams.container import TakebackApp


class LocalLedgers:
    def __init__(self, tb: TakebackApp) -> None:
        self.app = tb.app
        self.partitions = list(range(tb.settings.partitions))
        self.changelog = tb.ledgers.table.changelog_topic.get_topic_name()
        self.partitioner = DefaultPartitioner()

    def home(self, key: str) -> int:
        """The table partition of a ledger: where `remittances.rekeyed` (keyed by ledger key) would take it."""
        return self.partitioner(key.encode(), self.partitions, self.partitions)

    def hold(self, key: str, partition: int) -> bool:
        """True when the ledger `key` lives in table partition `partition` and this worker is its active owner."""
        return self.home(key) == partition and TP(self.changelog, partition) in self.app.assignor.assigned_actives()
