"""Patch: after a rebalance, put partitions that have no committed offset back at their beginning.

faust seeks every stream partition "to its committed offset" before it resumes them, but aiokafka's
seek_to_committed does nothing for a partition with no commit yet. Records fetched during the rebalance and then
dropped by faust (it drops what arrives for a partition it has just paused) have already moved the position on,
so those inputs were skipped for good: seen on Tansu as a rejoined worker that reports ready and never processes
the files waiting on era.raw. Re-reading is safe because processing is idempotent; the reset policy is
"earliest" (streams/app.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.faust_patches.guard import expected_method

PATCH = "seek uncommitted partitions to their beginning"


def install() -> None:
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = getattr(thread, "_takeback_original_seek", None) or check(thread)

    async def seek_to_committed(self: Any) -> Any:
        committed = await original(self)
        changelogs = self.app.tables.changelog_topics  # recovery positions those itself
        uncommitted = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
        if uncommitted:
            await self.seek_to_beginning(*uncommitted)
        return committed

    thread._takeback_original_seek = original
    thread.seek_to_committed = seek_to_committed


def check(thread: type) -> Callable[..., Any]:
    """`seek_to_committed(self)` returns the committed offsets; `seek_to_beginning(self, *partitions)` moves them."""
    method = expected_method(thread, "seek_to_committed", ("self",), coroutine=True, patch=PATCH)
    expected_method(thread, "seek_to_beginning", ("self", "*partitions"), coroutine=True, patch=PATCH)
    return method
