"""Several real worker processes on the test broker, in a namespace of their own, ready before the test uses them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streams.broker import free_port
from streams.kafka_io import ensure_topics
from streams.runner import WorkerProcess
from streams.settings import Settings


@dataclass
class Workers:
    settings: Settings  # the shared namespace (topics, group), without a worker's port or state folder
    processes: list[WorkerProcess]
    urls: list[str]  # each worker's HTTP address


@contextlib.contextmanager
def ready_workers(broker_url: str, name: str, work: Path, count: int = 2) -> Iterator[Workers]:
    """`count` workers sharing one group and its topics (prefix `name-<random>.`); all stopped on exit."""
    base = Settings(broker=broker_url, topic_prefix=f"{name}-{uuid.uuid4().hex[:8]}.", session_timeout=2.0)
    asyncio.run(ensure_topics(base))
    processes: list[WorkerProcess] = []
    try:
        for index in range(count):
            settings = base.with_overrides(web_port=free_port(), data_dir=work / f"w{index}")
            processes.append(WorkerProcess(settings, work / f"w{index}.log").start())
        for worker in processes:
            assert worker.wait_ready(60), f"a worker never got ready: {worker.problem() or worker.log_path}"
        yield Workers(base, processes, [f"http://127.0.0.1:{w.settings.web_port}" for w in processes])
    finally:
        for worker in processes:
            worker.stop()
