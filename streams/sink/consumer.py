"""The sink's Kafka side: its own consumer group over the takeback topics, batches written to PostgreSQL, then
the offsets committed. A crash between the two re-delivers the batch, which the idempotent writes absorb.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import psycopg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from streams.kafka_io import ensure_topics
from streams.security import kafka_client_kwargs
from streams.settings import Settings
from streams.sink import SinkError
from streams.sink.migrations import migrate
from streams.sink.store import Record, SinkStore, sink_topics

log = logging.getLogger("takeback.sink")


class SinkMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.lag = Gauge(
            "takeback_sink_lag_messages", "Messages not yet written to PostgreSQL.", ["topic", "partition"], registry=r
        )
        self.written = Counter("takeback_sink_events", "Events written to PostgreSQL, by table.", ["table"], registry=r)
        self.rejected = Counter("takeback_sink_rejected_events", "Events kept in rejected_events.", registry=r)

    def serve(self, host: str, port: int) -> None:
        if port:
            start_http_server(port, addr=host, registry=self.registry)


def sink_group(settings: Settings) -> str:
    """The sink's consumer group: its own, so it never takes partitions from the workers."""
    return f"{settings.application_id}-sink"


class _FromBeginning(ConsumerRebalanceListener):
    """--from-beginning: read every partition from its start the first time it is assigned (a rebuild)."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.rewound: set[TopicPartition] = set()

    async def on_partitions_revoked(self, revoked: object) -> None:
        pass

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        fresh = [tp for tp in assigned if tp not in self.rewound]
        if fresh:
            await self.consumer.seek_to_beginning(*fresh)
            self.rewound.update(fresh)


async def run_sink(settings: Settings, dsn: str, *, from_beginning: bool = False) -> None:
    """Follow the takeback topics into PostgreSQL until SIGTERM or SIGINT."""
    if not dsn:
        raise SinkError("no PostgreSQL to write to: pass --dsn or set TAKEBACK_SINK_DSN")
    try:
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        raise SinkError(f"cannot connect to PostgreSQL: {str(exc).strip().splitlines()[0]}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with conn:
        applied = await migrate(conn)
        if applied:
            log.info("database migrated to version %s", applied[-1])
        await ensure_topics(settings)
        metrics = SinkMetrics()
        metrics.serve(settings.web_host, settings.sink_metrics_port)
        await _follow(settings, SinkStore(conn, settings.topic_names), metrics, stop, from_beginning)


async def _follow(
    settings: Settings, store: SinkStore, metrics: SinkMetrics, stop: asyncio.Event, from_beginning: bool
) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=sink_group(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=int(settings.session_timeout * 1000),
        heartbeat_interval_ms=int(max(settings.session_timeout / 4, 0.5) * 1000),
        rebalance_timeout_ms=int(settings.rebalance_timeout * 1000),
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        metadata_max_age_ms=5000,
        **kafka_client_kwargs(settings),
    )
    listener = _FromBeginning(consumer) if from_beginning else None
    consumer.subscribe(sink_topics(settings.topic_names), listener=listener)
    await consumer.start()
    log.info("sink following %s as group %s", ", ".join(sink_topics(settings.topic_names)), sink_group(settings))
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=settings.sink_batch_size)
            if batches:
                await _write_and_commit(consumer, store, metrics, batches)
            await _measure_lag(consumer, metrics)
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


async def _write_and_commit(consumer: AIOKafkaConsumer, store: SinkStore, metrics: SinkMetrics, batches) -> None:
    records = [Record(tp.topic, tp.partition, m.offset, m.value) for tp, messages in batches.items() for m in messages]
    written = await store.write(records)
    metrics.written.labels("takeback_revisions").inc(written.takeback_revisions)
    metrics.written.labels("net_cash").inc(written.net_cash_rows)
    metrics.written.labels("dead_letters").inc(written.dead_letters)
    metrics.written.labels("actions").inc(written.actions)
    metrics.rejected.inc(written.rejected)
    offsets = {tp: OffsetAndMetadata(messages[-1].offset + 1, "") for tp, messages in batches.items()}
    try:
        await consumer.commit(offsets)
    except Exception as exc:  # a rebalance took the partitions: the next owner re-reads, the writes are idempotent
        log.warning("offsets not committed (%s); the batch will be read again", type(exc).__name__)


async def _measure_lag(consumer: AIOKafkaConsumer, metrics: SinkMetrics) -> None:
    """Records behind the partition's end, per partition (known once a fetch has reported the end)."""
    for tp in consumer.assignment():
        highwater = consumer.highwater(tp)
        if highwater is not None:
            position = await consumer.position(tp)
            metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, highwater - position))
