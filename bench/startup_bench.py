"""Where the start-up of a small `takeback replay` goes, phase by phase.

    .venv/bin/python -m bench.startup_bench [--repeat 3]

Runs what `replay` runs (an embedded broker, the topics, one worker process, one small file published and its
results collected, then its reassociation records, the worker and the broker stopped) and times each phase from
this process; the phases inside the worker (its imports and app, faust's start, the group join, table recovery)
are read from the timestamps of the lines faust logs at each step. Then the wall time of the command itself,
`takeback replay FILE --out DIR`.
Not a test: figures depend on the machine (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from streams.broker import EmbeddedBroker
from streams.kafka_io import collect_reassociations, ensure_topics, file_payloads
from streams.processes import spawn_child, stop_child
from streams.runner import WorkerProcess, isolated, publish_and_collect
from streams.samples import CORPUS_DIR, PROJECT_ROOT
from streams.settings import Settings

SMALL_FILE = CORPUS_DIR / "edi835parser_835_5010_minimal_single_claim.835"

# Lines faust (mode, aiokafka) logs at INFO as a worker starts: the end of each phase inside the worker.
WORKER_MILESTONES = (
    ("worker process start, imports, app", re.compile(r"\[\^Worker\]: Starting")),
    ("faust services start, subscribe", re.compile(r"\(Re-\)joining group")),
    ("consumer-group join", re.compile(r"Joined group")),
    ("assignment, table recovery", re.compile(r"\[\^Worker\]: Ready")),
)
_STAMP = re.compile(r"\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")

# A replay stopped early stops its own worker, which may take that worker's stop grace.
REPLAY_STOP_GRACE_SECONDS = Settings().stop_grace_seconds + 10


def worker_milestones(log: Path, spawned_at: float) -> list[tuple[str, float]]:
    """(phase, seconds since the worker was spawned) for each milestone found in the worker's log."""
    found: list[tuple[str, float]] = []
    lines = log.read_text(errors="replace").splitlines()
    for phase, pattern in WORKER_MILESTONES:
        for line in lines:
            stamp = _STAMP.match(line)
            if stamp and pattern.search(line):
                at = dt.datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
                found.append((phase, at - spawned_at))
                break
    return found


def startup_phases(file: Path = SMALL_FILE) -> list[tuple[str, float]]:
    """(phase, seconds) in order, for one run of what `replay` does."""
    settings = isolated(Settings(log_level="info"))
    phases: list[tuple[str, float]] = []
    started = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal started
        now = time.perf_counter()
        phases.append((phase, now - started))
        started = now

    with EmbeddedBroker() as broker:
        lap("broker start (listening)")
        live = settings.with_overrides(broker=broker.url)
        asyncio.run(ensure_topics(live))
        lap("topic creation")
        spawned_at = time.time()
        with WorkerProcess(live, settings.data_dir / "worker.log") as worker:
            if not worker.wait_ready(timeout=60):
                raise RuntimeError(worker.problem() or "the worker did not get ready")
            ready = time.perf_counter()
            previous = 0.0
            for phase, at in worker_milestones(worker.log_path, spawned_at):
                phases.append((phase, at - previous))
                previous = at
            phases.append(("readiness seen (/readyz polled)", ready - started - previous))
            started = ready
            asyncio.run(publish_and_collect(live, worker, file_payloads([file]), timeout=60))
            lap("publish, process, collect")
            asyncio.run(collect_reassociations(live, timeout=60, health=worker.problem))
            lap("reassociation records collected")
            worker.discard()  # as replay does
        lap("worker stop")
    lap("broker stop")
    return phases


def replay_wall(path: Path = SMALL_FILE, timeout: float = 600.0) -> float:
    """Wall time of `takeback replay FILE_OR_DIR --out DIR`, as a user runs it."""
    with tempfile.TemporaryDirectory() as out:
        command = [str(PROJECT_ROOT / ".venv" / "bin" / "takeback"), "replay", str(path), "--out", out]
        started = time.perf_counter()
        replay = spawn_child(
            [*command, "--timeout", str(timeout)],
            death_signal=signal.SIGTERM,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _, err = replay.communicate()
        finally:
            stop_child(replay, grace=REPLAY_STOP_GRACE_SECONDS)  # when interrupted: it stops its own broker and worker
        if replay.returncode != 0:
            raise RuntimeError(f"takeback replay failed: {err.decode(errors='replace').strip()}")
        return time.perf_counter() - started


def describe(phases: list[tuple[str, float]]) -> list[str]:
    return [f"  {phase:<42} {seconds:6.2f} s" for phase, seconds in phases] + [
        f"  {'total':<42} {sum(s for _, s in phases):6.2f} s"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs of `takeback replay` (median and all)")
    args = parser.parse_args()
    print("start-up phases (one run):")
    for line in describe(startup_phases()):
        print(line)
    walls = [replay_wall() for _ in range(args.repeat)]
    shown = ", ".join(f"{w:.2f}" for w in walls)
    print(f"takeback replay, one small file (wall): median {statistics.median(walls):.2f} s ({shown})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
