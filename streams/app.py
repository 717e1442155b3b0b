"""The wiring: the Faust app, its topics and tables built from Settings (so `replay` can run an isolated copy), then
the agents and the HTTP views registered on it.

Layout, following the faust-streaming examples: this module wires the app, ``container.py`` holds what the agents
(``agents.py``) and the views (``web.py``) share, and the domain lives in ``streams/domain`` with no Faust in it.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import faust

from streams.actions import register_action_agents
from streams.agents import register_agents
from streams.container import TakebackApp, Topics
from streams.deposit_agents import register_deposit_agents
from streams.faust_patches import install_patches
from streams.ledger_table import LedgerTable
from streams.metrics import WorkerMetrics
from streams.pages import register_pages
from streams.people import AccessDirectory
from streams.security import access_middleware, check_api_exposure, faust_credentials, security_headers
from streams.settings import Settings, TopicNames
from streams.web import register_views

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
    install_patches(settings)
    names: TopicNames = settings.topic_names
    access = AccessDirectory(settings)
    app = faust.App(
        settings.application_id,
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
        # limit, a backlog made aiokafka hold that much per partition ahead of the agents (docs/benchmarks.md).
        consumer_max_fetch_size=1024 * 1024,
        # Events faust reads ahead per partition (default 4,096). Under a backlog (a backfill, a burst) that was
        # thousands of files and remittance events held in memory (docs/benchmarks.md).
        stream_buffer_maxsize=max(2 * settings.match_batch_size, 64),
        table_cleanup_interval=3600.0,
        broker_credentials=faust_credentials(settings),
        web_application_options={"middlewares": [access_middleware(settings, access)]},
    )
    topics = Topics(
        raw=_raw_topic(app, names.raw, settings),
        remittances=_raw_topic(app, names.remittances, settings),
        remittances_rekeyed=_raw_topic(app, names.remittances_rekeyed, settings),
        reversals=_raw_topic(app, names.reversals, settings),
        recoupments=_raw_topic(app, names.recoupments, settings),
        dead_letters=_raw_topic(app, names.dead_letters, settings),
        net_cash=_raw_topic(app, names.net_cash, settings),
        net_cash_shares=_raw_topic(app, names.net_cash_shares, settings),
        receipts=_raw_topic(app, names.receipts, settings),
        bank_raw=_raw_topic(app, names.bank_raw, settings),
        reassociation_in=_raw_topic(app, names.reassociation_in, settings),
        reassociations=_raw_topic(app, names.reassociations, settings),
        actions=_raw_topic(app, names.actions, settings),
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
    # Keyed by NPI like net-cash (the message key of net-cash.shares): the latest share of each of its ledgers.
    cash_shares = app.Table(
        "net-cash-shares", key_type=bytes, value_type=bytes, partitions=settings.partitions, options=ROCKSDB_OPTIONS
    )
    # Keyed by trace (the message key of reassociation.in), plus one clock key written in each partition.
    reassociation = app.Table(
        "reassociation", key_type=bytes, value_type=bytes, partitions=settings.partitions, options=ROCKSDB_OPTIONS
    )
    # Rules §2: the ledgers each NPI was routed to; global (every worker reads all of it), a few entries per NPI
    # One partition, written by key (not by the input's partition) and read by every worker as it runs: faust's
    # advice for a global table shared by several workers, which otherwise do not see each other's writes.
    payee_ledgers = app.GlobalTable(
        "payee-ledgers",
        key_type=bytes,
        value_type=bytes,
        partitions=1,
        recovery_buffer_size=1,
        use_partitioner=True,
        options=ROCKSDB_OPTIONS,
    )
    # Keyed by action target (the message key of takeback.actions): each target's work state (rules §12).
    work = app.Table("work", key_type=bytes, value_type=bytes, partitions=settings.partitions, options=ROCKSDB_OPTIONS)
    metrics = WorkerMetrics(settings.metrics_max_providers, settings.metrics_max_payers)
    takeback = TakebackApp(
        app=app,
        settings=settings,
        topics=topics,
        ledgers=ledgers,
        net_cash=net_cash,
        cash_shares=cash_shares,
        metrics=metrics,
        reassociation=reassociation,
        payee_ledgers=payee_ledgers,
        work=work,
        access=access,
    )

    register_agents(takeback)
    register_deposit_agents(takeback)
    register_action_agents(takeback)
    register_views(takeback)
    register_pages(takeback)
    if settings.web_enabled:
        app.web.web_app.on_response_prepare.append(security_headers)

        @app.task
        async def follow_access() -> None:
            """Who may sign in: read before the pages answer (readyz waits), then followed until the worker stops."""
            await access.start()
            try:
                await asyncio.Event().wait()
            finally:
                await access.stop()

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
