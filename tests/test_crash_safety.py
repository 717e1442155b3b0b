"""Nothing lost, nothing counted twice: workers killed with SIGKILL and SIGTERM while ERAs flow.

Each test streams synthetic ERAs (tests/support/era_mix.py: reversals, corrections, WO,
FB, L6, re-sent duplicates) through real workers on the suite's broker, hurts
the workers while the stream flows, and compares the final takebacks (by
event_id, latest revision) and the cash table with the plain domain run over
the same input, which equals an undisturbed worker run (test_corpus_replay).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.domain.offline import OfflineResult, apply_all
from streams.domain.x12 import read_835
from streams.kafka_io import ResultCollector, ensure_topics, publish_files
from streams.runner import WorkerProcess
from streams.settings import Settings
from tests.support.era_mix import era_stream

pytestmark = pytest.mark.broker

# A restarted worker re-joins the group and restores its tables; on a machine shared with other runs that can
# take more than the 30 s WorkerProcess waits by default.
READY_TIMEOUT = 60.0


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


def write_stream(directory: Path, claims: int, seed: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in era_stream(claims, providers=12, seed=seed):
        path = directory / name
        path.write_bytes(data)
        paths.append(path)
    return paths


def undisturbed(paths: list[Path]) -> OfflineResult:
    remittances = []
    for index, path in enumerate(paths):
        remittances.extend(read_835(path.read_bytes(), file=path.name, source_id=str(index)).remittances)
    return apply_all(remittances)


def comparable(result) -> tuple[dict, dict]:
    takebacks = {
        t.event_id: t.model_dump(mode="json", exclude={"revision"})
        for t in result.takebacks.values()
        if not t.withdrawn
    }
    cash = {p: r.model_dump(mode="json") for p, r in result.net_cash.items()}
    return takebacks, cash


class Crew:
    """Worker processes of one consumer group, which a test can kill and restart."""

    def __init__(self, settings: Settings, work: Path) -> None:
        self.settings, self.work = settings, work
        self.workers: list[WorkerProcess] = []
        self.started = 0

    def start(self) -> WorkerProcess:
        self.started += 1
        settings = self.settings.with_overrides(web_port=free_port(), data_dir=self.work / f"w{self.started}")
        worker = WorkerProcess(settings, self.work / f"w{self.started}.log").start()
        self.workers.append(worker)
        return worker

    def wait_ready(self, worker: WorkerProcess) -> None:
        """Let the group rebalance before the next harm.

        Tansu keeps a member killed between its JoinGroup and SyncGroup as the group's leader and never expires
        it: the others re-join forever (docs/known-problems.md). So the tests hurt running workers, not joining ones.
        A worker that never gets ready fails the test here, with the end of its log, instead of being hurt anyway.
        """
        # an AssertionError, not pytest.fail: this runs in a thread under asyncio, which re-raises only Exceptions
        assert worker.wait_ready(timeout=READY_TIMEOUT), (
            f"worker {worker.log_path.name} not ready within {READY_TIMEOUT:.0f} s "
            f"({worker.problem() or 'still running'}); the end of its log:\n{log_tail(worker.log_path)}"
        )

    def alive(self) -> list[WorkerProcess]:
        return [w for w in self.workers if w.process is not None and w.process.poll() is None]

    def health(self) -> str | None:
        return None if self.alive() else "no worker alive"

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


def run_with_harm(
    broker: EmbeddedBroker,
    tmp_path: Path,
    *,
    workers: int,
    harm: Callable[[Crew, random.Random], None],
    rounds: int,
    claims: int = 20_000,
) -> None:
    paths = write_stream(tmp_path / "in", claims=claims, seed=5)
    # a worker killed mid-rebalance holds the group for the rebalance timeout: keep it short here
    settings = Settings(
        broker=broker.url, topic_prefix=f"crash-{uuid.uuid4().hex[:8]}.", session_timeout=2.0, rebalance_timeout=10.0
    )
    asyncio.run(ensure_topics(settings))
    crew = Crew(settings, tmp_path)
    rng = random.Random(42)
    try:
        for _ in range(workers):
            crew.start()

        async def flow():
            async def feed():
                published = []
                for chunk in range(0, len(paths), 5):  # a steady stream, not one burst
                    published += await publish_files(settings, paths[chunk : chunk + 5], run_id=f"c{chunk:05d}")
                    await asyncio.sleep(0.3)
                return published

            async def hurt():
                for _ in range(rounds):
                    await asyncio.sleep(rng.uniform(0.8, 2.5))
                    await asyncio.to_thread(harm, crew, rng)  # the feed keeps flowing meanwhile

            published, _ = await asyncio.gather(feed(), hurt())
            collector = ResultCollector(settings, [p.source_id for p in published], health=crew.health)
            try:
                return await collector.collect(timeout=90 + claims / 1000)
            except Exception:
                missing = sorted(set(p.source_id for p in published) - set(collector.results.ingested))
                (tmp_path / "missing.txt").write_text("\n".join(missing))
                raise

        results = asyncio.run(flow())
    finally:
        crew.stop_all()
    expected_takebacks, expected_cash = comparable(undisturbed(paths))
    actual_takebacks, actual_cash = comparable(results)
    lost = set(expected_takebacks) - set(actual_takebacks)
    assert not lost, f"{len(lost)} takebacks lost"
    assert actual_takebacks == expected_takebacks
    assert actual_cash == expected_cash, "cash table differs from the undisturbed run (lost or double-counted)"
    assert results.outcomes.get("applied", 0) + results.outcomes.get("duplicate", 0) == len(results.processed)
    print(
        f"{crew.started - workers} restarts over {len(results.processed)} remittances "
        f"({sum(len(read_835(p.read_bytes()).remittances) for p in paths)} in the input): "
        f"outcomes {results.outcomes}, re-delivered {results.redelivered}, takebacks {len(actual_takebacks)}, "
        "lost 0, double-counted 0"
    )


def kill_and_restart(signal_number: int) -> Callable[[Crew, random.Random], None]:
    def harm(crew: Crew, rng: random.Random) -> None:
        victim = rng.choice(crew.alive())
        os.kill(victim.pid, signal_number)
        deadline = time.monotonic() + 20
        while victim.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        crew.wait_ready(crew.start())

    return harm


def test_kill_9_of_a_worker_mid_stream_loses_nothing_and_counts_nothing_twice(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    run_with_harm(broker, tmp_path, workers=2, harm=kill_and_restart(signal.SIGKILL), rounds=3)


def test_sigterm_hands_back_cleanly(broker: EmbeddedBroker, tmp_path: Path) -> None:
    run_with_harm(broker, tmp_path, workers=2, harm=kill_and_restart(signal.SIGTERM), rounds=2)


def test_restarting_the_whole_group(broker: EmbeddedBroker, tmp_path: Path) -> None:
    def restart_everyone(crew: Crew, rng: random.Random) -> None:
        for worker in crew.alive():
            os.kill(worker.pid, signal.SIGKILL)
        time.sleep(0.2)
        first, second = crew.start(), crew.start()
        crew.wait_ready(first)
        crew.wait_ready(second)

    run_with_harm(broker, tmp_path, workers=2, harm=restart_everyone, rounds=2)


@pytest.mark.soak
def test_soak_many_kills_and_sigterms_over_a_longer_stream(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """On demand (`scripts/test -m soak`): a longer stream, hurt over and over, kill -9 and SIGTERM mixed."""

    def kill_or_term(crew: Crew, rng: random.Random) -> None:
        kill_and_restart(rng.choice([signal.SIGKILL, signal.SIGTERM]))(crew, rng)

    run_with_harm(broker, tmp_path, workers=2, harm=kill_or_term, rounds=12, claims=80_000)
