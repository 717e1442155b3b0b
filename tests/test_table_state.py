"""Table state survives a worker restart, in RocksDB and in memory (restored from the changelog)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.kafka_io import PipelineResults, ensure_topics, file_payloads
from streams.runner import WorkerProcess, publish_and_collect
from streams.settings import Settings

pytestmark = pytest.mark.broker

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "03_reversal_in_later_payment"


def run_file(settings: Settings, worker: WorkerProcess, path: Path) -> PipelineResults:
    _, results = asyncio.run(publish_and_collect(settings, worker, file_payloads([path]), timeout=120))
    return results


def test_the_rocksdb_store_keeps_ledgers_that_link_takebacks(broker: EmbeddedBroker, tmp_path: Path) -> None:
    settings = Settings(
        broker=broker.url,
        topic_prefix=f"rocks-{uuid.uuid4().hex[:8]}.",
        session_timeout=2.0,
        store="rocksdb://",
        data_dir=tmp_path / "state",
        web_port=free_port(),
    )
    asyncio.run(ensure_topics(settings))
    with WorkerProcess(settings, tmp_path / "worker.log") as worker:
        run_file(settings, worker, SCENARIO / "01_original.835")
        after = run_file(settings, worker, SCENARIO / "02_reversal_and_correction.835")
    (takeback,) = after.takebacks.values()
    assert takeback.original_trace_number == "EFT0301"
    assert list((tmp_path / "state").rglob("*.sst")) or list((tmp_path / "state").rglob("CURRENT")), "no RocksDB files"


@pytest.mark.parametrize("store", ["rocksdb://", "memory://"])
def test_a_restarted_worker_links_a_takeback_to_a_payment_seen_before_the_restart(
    broker: EmbeddedBroker, tmp_path: Path, store: str
) -> None:
    settings = Settings(
        broker=broker.url,
        topic_prefix=f"state-{uuid.uuid4().hex[:8]}.",
        session_timeout=2.0,
        store=store,
        data_dir=tmp_path / "state",
    )
    asyncio.run(ensure_topics(settings))
    first = settings.with_overrides(web_port=free_port())
    with WorkerProcess(first, tmp_path / "first.log") as worker:
        before = run_file(first, worker, SCENARIO / "01_original.835")
    assert before.outcomes == {"applied": 1} and not before.takebacks

    second = settings.with_overrides(web_port=free_port())  # same data dir: RocksDB files, or the changelog only
    with WorkerProcess(second, tmp_path / "second.log") as worker:
        after = run_file(second, worker, SCENARIO / "02_reversal_and_correction.835")
    (takeback,) = after.takebacks.values()
    assert takeback.original_trace_number == "EFT0301", "the ledger lost the original payment across the restart"
    assert (takeback.kind, takeback.method) == ("recoupment", "offset")
    (row,) = after.net_cash.values()
    assert row.revision == 2  # both remittances, each counted once
