"""Patch: restore tables up to the real end of each changelog partition, not up to the end the broker reports.

Tansu reports the first offset of a partition's last record batch + 1, and faust stops restoring there: the rest
of that batch was lost on restart. A batch's ledger write is several records (facts, then the header that makes
them count), so a restart lost the last batch's headers, with the inputs already committed. Seen as a restarted
memory-store worker that no longer knew a payment (tests/test_table_state.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import TopicPartition
from faust.tables import recovery as faust_recovery

from streams.faust_patches.guard import expected_method
from streams.kafka_io import true_end_offsets
from streams.settings import Settings

PATCH = "recover to the true end of changelogs"


def install(settings: Settings) -> None:
    recovery = faust_recovery.Recovery
    original = getattr(recovery, "_takeback_original_highwaters", None) or check(recovery)

    async def build_highwaters(self: Any, consumer: Any, tps: Any, destination: Any, title: str) -> None:
        await original(self, consumer, tps, destination, title)
        # faust keeps "end - 1" (the last offset to read); -1 for an empty partition
        reported = {TopicPartition(tp.topic, tp.partition): last + 1 for tp, last in destination.items()}
        ends = await true_end_offsets(settings, reported)
        for tp in list(destination):
            true_last = ends[TopicPartition(tp.topic, tp.partition)] - 1
            if true_last > destination[tp]:
                self.log.info(
                    "%s[%s]: restoring to offset %s, past the reported end", tp.topic, tp.partition, true_last
                )
                destination[tp] = true_last

    recovery._takeback_original_highwaters = original
    recovery._build_highwaters = build_highwaters


def check(recovery: type) -> Callable[..., Any]:
    """faust fills `destination` (partition -> last offset to restore) in this method, which the patch extends."""
    parameters = ("self", "consumer", "tps", "destination", "title")
    return expected_method(recovery, "_build_highwaters", parameters, coroutine=True, patch=PATCH)
