"""Patch: the consumer's fetch wait, which faust hard-codes to 1.5 s with no setting for it.

Tansu answers a fetch only when its wait expires, so faust's wait was added to every hop of the pipeline
(docs/benchmarks.md). The patch wraps faust's consumer factory and lowers the wait of the consumer it builds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.faust_patches.guard import expected_method, expected_source_mentions

PATCH = "fetch wait"


def install(wait_ms: int) -> None:
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = getattr(thread, "_takeback_original_create", None) or check(thread)

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = wait_ms
        return consumer

    thread._takeback_original_create = original
    thread._create_worker_consumer = create_worker_consumer


def check(thread: type, consumer: type = AIOKafkaConsumer) -> Callable[..., Any]:
    """faust builds its consumer in `_create_worker_consumer(self, transport)`, and aiokafka reads the wait from
    `_fetch_max_wait_ms` when the consumer starts, so setting it after construction takes effect."""
    method = expected_method(thread, "_create_worker_consumer", ("self", "transport"), coroutine=False, patch=PATCH)
    expected_source_mentions(consumer, "start", "self._fetch_max_wait_ms", patch=PATCH)
    return method
