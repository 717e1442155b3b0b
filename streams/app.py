"""The Faust app: topics and tables, built from Settings (so `replay` can run an isolated copy).

Layout, following the faust-streaming examples: this module wires the app,
``agents.py`` holds the agents (read, call the domain, write), and the domain
lives in ``streams/domain`` with no Faust in it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import socket
import weakref
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka import TopicPartition
from faust import streams as faust_streams
from faust.tables import recovery as faust_recovery
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.domain.ledger import ProviderLedger
from streams.domain.ledger_records import ledger_from_records, records_to_write
from streams.kafka_io import true_end_offsets
from streams.metrics import WorkerMetrics
from streams.security import bearer_token_middleware, check_api_exposure, faust_credentials
from streams.settings import Settings, TopicNames


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
        its loop, and faust sets the current event only inside iteration, so the writes run in that event's
        context (faust has no public setter for it).
        """
        records = records_to_write(ledger)
        token = faust_streams._current_event.set(weakref.ref(event))
        try:
            for key, raw in records:
                self.table[key] = raw
        finally:
            faust_streams._current_event.reset(token)
        header = records[-1][1]
        self._decoded[ledger.provider_id] = (len(header), hash(header), ledger)


@dataclass
class Topics:
    raw: faust.TopicT
    remittances: faust.TopicT
    reversals: faust.TopicT
    recoupments: faust.TopicT
    dead_letters: faust.TopicT
    net_cash: faust.TopicT
    receipts: faust.TopicT


@dataclass
class TakebackApp:
    app: faust.App
    settings: Settings
    topics: Topics
    ledgers: LedgerTable  # provider_id -> ProviderLedger
    net_cash: faust.Table  # provider_id (bytes) -> NetCashRow JSON (bytes)
    metrics: WorkerMetrics


# Used by the rocksdb:// store only. faust's defaults are sized for a dedicated host: a 2 GiB block cache and
# 3 x 64 MiB memtables per partition database, and there is one database per table and partition (8 here).
# The worker caches decoded ledgers itself, so RocksDB's caches can stay small.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "block_cache_size": 4 * 1024 * 1024,
    "block_cache_compressed_size": 0,
}


def _raw_topic(app: faust.App, name: str, settings: Settings, **extra: Any) -> faust.TopicT:
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
        replicas=settings.replication_factor,
        **extra,
    )


def create_app(settings: Settings) -> TakebackApp:
    check_api_exposure(settings)
    _tune_fetch_wait(settings.fetch_max_wait_ms)
    _seek_uncommitted_to_beginning()
    _recover_to_the_true_end(settings)
    names: TopicNames = settings.topic_names
    app = faust.App(
        settings.app_id + (f"-{settings.topic_prefix.strip('.-')}" if settings.topic_prefix else ""),
        broker=settings.broker,
        store=settings.store,
        datadir=str(settings.data_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        broker_session_timeout=settings.session_timeout,
        broker_rebalance_timeout=settings.rebalance_timeout,
        broker_heartbeat_interval=max(settings.session_timeout / 4, 0.5),
        broker_request_timeout=max(90.0, settings.session_timeout * 2),
        consumer_auto_offset_reset="earliest",
        # Tansu under-reports partition end offsets; the check would refuse a valid RocksDB restore.
        recovery_consistency_check=False,
        web_enabled=settings.web_enabled,
        web_host=settings.web_host,
        web_bind=settings.web_host,  # faust listens on every interface unless told otherwise
        canonical_url=advertised_url(settings),
        web_port=settings.web_port,
        producer_max_request_size=settings.max_input_bytes + 1024 * 1024,
        # Per partition and fetch. A soft limit (KIP-74): a larger message still comes, alone. Sized to the input
        # limit, a backlog made aiokafka hold up to 17 MB per partition ahead of the agents.
        consumer_max_fetch_size=1024 * 1024,
        # Events faust reads ahead per partition (default 4,096). Under a backlog (a backfill, a burst) that was
        # thousands of files and remittance events held in memory: 1M claims in a burst took 1.5 GB, not 1.0.
        stream_buffer_maxsize=max(2 * settings.match_batch_size, 64),
        table_cleanup_interval=3600.0,
        broker_credentials=faust_credentials(settings),
        web_application_options={"middlewares": [bearer_token_middleware(settings)]},
    )
    topics = Topics(
        raw=_raw_topic(app, names.raw, settings),
        remittances=_raw_topic(app, names.remittances, settings),
        reversals=_raw_topic(app, names.reversals, settings),
        recoupments=_raw_topic(app, names.recoupments, settings),
        dead_letters=_raw_topic(app, names.dead_letters, settings),
        net_cash=_raw_topic(app, names.net_cash, settings),
        receipts=_raw_topic(app, names.receipts, settings),
    )
    # Headers are keyed by the raw provider id bytes, exactly the message key of `remittances`, so Faust's web
    # routing (which hashes the key) finds the worker that owns a provider. Every record, facts keys included,
    # is written to the partition of the provider's remittance event (LedgerTable.put), which is that same one.
    ledgers = LedgerTable(
        app.Table(
            "ledgers",
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
            options=ROCKSDB_OPTIONS,
        )
    )
    net_cash = app.Table(
        "net-cash", key_type=bytes, value_type=bytes, partitions=settings.partitions, options=ROCKSDB_OPTIONS
    )
    metrics = WorkerMetrics(settings.metrics_max_providers, settings.metrics_max_payers)
    takeback = TakebackApp(
        app=app, settings=settings, topics=topics, ledgers=ledgers, net_cash=net_cash, metrics=metrics
    )

    # agents and views need the app object; imported here to avoid an import cycle
    from streams.agents import register_agents
    from streams.pages import register_pages
    from streams.web import register_views

    register_agents(takeback)
    register_views(takeback)
    register_pages(takeback)
    return takeback


def advertised_url(settings: Settings) -> str:
    """How other workers reach this one's API (table routing): TAKEBACK_CANONICAL_URL, else host and port.

    A worker bound to every interface (0.0.0.0) is reached by its host name, not by 0.0.0.0.
    """
    if settings.canonical_url:
        return settings.canonical_url
    host = settings.web_host
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    return f"http://{host}:{settings.web_port}"


def _tune_fetch_wait(wait_ms: int) -> None:
    """faust 0.15 hard-codes fetch_max_wait_ms=1500; on Tansu that is ~1.1 s of latency per hop.

    There is no setting for it, so wrap the consumer factory and lower the wait.
    """
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = getattr(thread, "_takeback_original_create", None) or thread._create_worker_consumer

    def create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = wait_ms
        return consumer

    thread._takeback_original_create = original
    thread._create_worker_consumer = create_worker_consumer


def _recover_to_the_true_end(settings: Settings) -> None:
    """Restore tables up to the real end of each changelog partition, not up to the end the broker reports.

    Tansu reports the first offset of a partition's last record batch + 1, and faust stops restoring there:
    the rest of that batch was lost on restart. A batch's ledger write is several records (facts, then the
    header that makes them count), so a restart lost the last batch's headers, with the inputs already
    committed. Seen as a restarted memory-store worker that no longer knew a payment (tests/test_table_state.py).
    """
    recovery = faust_recovery.Recovery
    original = getattr(recovery, "_takeback_original_highwaters", None) or recovery._build_highwaters

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


def _seek_uncommitted_to_beginning() -> None:
    """After a rebalance, put partitions that have no committed offset back at their beginning.

    faust seeks every stream partition "to its committed offset" before it resumes them, but aiokafka's
    seek_to_committed does nothing for a partition with no commit yet. Records fetched during the rebalance and
    then dropped by faust (it drops what arrives for a partition it has just paused) have already moved the
    position on, so those inputs were skipped for good: seen on Tansu as a rejoined worker that reports ready
    and never processes the files waiting on era.raw. The reset policy here is "earliest" (create_app).
    """
    thread = faust_aiokafka.AIOKafkaConsumerThread
    original = getattr(thread, "_takeback_original_seek", None) or thread.seek_to_committed

    async def seek_to_committed(self: Any) -> Any:
        committed = await original(self)
        changelogs = self.app.tables.changelog_topics  # recovery positions those itself
        uncommitted = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
        if uncommitted:
            await self.seek_to_beginning(*uncommitted)
        return committed

    thread._takeback_original_seek = original
    thread.seek_to_committed = seek_to_committed


def return_large_buffers_to_the_os() -> None:
    """Serve every allocation over 128 KiB with its own mmap, so freeing it gives the memory back.

    A ledger write is one JSON value of up to megabytes, and a batch makes one per provider it touched.
    glibc raises its mmap threshold after the first such free and serves the rest from the heap, which
    then never shrinks: 1M claims of state in a burst held 1.25 GB, 0.93 GB with the threshold fixed.
    (Same as MALLOC_MMAP_THRESHOLD_=131072; glibc only, a no-op elsewhere.)
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        pass


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


def keep_state_out_of_full_collections() -> None:
    """Install the collector hook below, once per process (a worker's, not the tests')."""
    if _freeze_after_full_collections not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full_collections)


def _freeze_after_full_collections(phase: str, info: dict[str, int]) -> None:
    """After each full (generation 2) collection, move the survivors out of the cyclic GC's reach.

    The ledgers are millions of long-lived objects. A full collection walks every tracked one, and after a
    freeze Python runs one every ~10 young collections: pauses that grew to 130 ms between freezes on a 10 s
    timer and were most of the p99 latency. Frozen this way each pass walks only what survived since the
    last one (~10 ms). Frozen objects are still freed by reference counting; only cyclic garbage among them
    would stay (full passes here collected next to nothing).
    """
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


def configure_logging(level: str) -> None:
    """Our loggers at the requested level; client libraries never below INFO.

    At DEBUG, aiokafka logs whole fetch responses, message bytes included: that
    would put patient data in the log, so no level we offer lets it through.
    Also undoes faust's spinner setting the root logger to DEBUG (~10-16% CPU).
    """
    wanted = logging.getLevelName(level.upper())
    wanted = wanted if isinstance(wanted, int) else logging.INFO
    logging.getLogger().setLevel(wanted)
    for name in ("aiokafka", "kafka", "faust", "mode"):
        logging.getLogger(name).setLevel(max(wanted, logging.INFO))
