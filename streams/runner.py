"""Running the pipeline as a whole: worker processes, `replay` and the demo.

A worker is a separate process (`takeback worker`), exactly what production
runs; `replay` and the demo start one, feed it files and read the results back
from the topics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from streams.broker import broker_or_embedded, free_port
from streams.inputs import expand_inputs, in_canonical_order
from streams.processes import spawn_child, stop_child
from streams.settings import Settings, settings_to_env

if TYPE_CHECKING:
    from schemas import Reassociation
    from streams.kafka_io import PipelineResults, Published
    from streams.progress import ProgressBar

# The Kafka clients and the event contracts (streams.kafka_io and what it imports) are imported where they are used,
# after the worker process has been started: its start-up is the longest step of a small `replay`, and this
# process's imports then run alongside it instead of before it (docs/benchmarks.md).

# How long past its stop grace a worker may take before it is killed (its own deadline fires at the grace).
SIGKILL_MARGIN_SECONDS = 5.0


class WorkerProcess:
    """`takeback worker` in a child process; stopped with SIGTERM (then SIGKILL) on exit."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {**os.environ, **settings_to_env(self.settings), "PYTHONUNBUFFERED": "1"}
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it from here
        # SIGTERM as its death signal: the worker stops gracefully, within its stop grace even with the broker gone.
        self.process = spawn_child(
            [sys.executable, "-m", "streams.cli", "worker"],
            death_signal=signal.SIGTERM,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def problem(self) -> str | None:
        """Why this worker cannot make progress, or None while it runs."""
        if self.process is None or self.process.poll() is None:
            return None
        last = _last_line(self.log_path)
        return f"the worker exited with code {self.process.returncode}: {last} (log: {self.log_path})"

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Wait until the worker's `/readyz` answers 200 (it has joined the group and recovered its tables)."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.settings.web_port}/readyz"
        while time.monotonic() < deadline and self.problem() is None:
            try:
                with urllib.request.urlopen(url, timeout=1) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """SIGTERM; the worker exits by itself within its stop grace, so SIGKILL after that is a last resort."""
        process, self.process = self.process, None
        if process is not None:
            stop_child(process, grace=self.settings.stop_grace_seconds + SIGKILL_MARGIN_SECONDS)

    def discard(self) -> None:
        """End at once (SIGKILL): for a worker whose results are all read and whose topics, group and state are
        its run's own (replay's), so a graceful stop (commit, leave the group, close) would serve nobody."""
        process, self.process = self.process, None
        if process is not None:
            stop_child(process, grace=0, stop_signal=signal.SIGKILL)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


@dataclass
class RunningPipeline:
    settings: Settings  # with the live broker address
    worker: WorkerProcess


@contextlib.contextmanager
def running_pipeline(settings: Settings, broker: str | None, work_dir: Path) -> Iterator[RunningPipeline]:
    """A broker (the given one, else an embedded one) and one worker, for the duration."""
    with broker_or_embedded(broker) as url:
        live = settings.with_overrides(broker=url)
        # the worker first: it creates the topics too, and both sides tolerate the other having created them
        with WorkerProcess(live, work_dir / "worker.log") as worker:
            from streams.kafka_io import ensure_topics

            asyncio.run(ensure_topics(live))  # before anything is published, whenever the worker gets there
            yield RunningPipeline(live, worker)


async def feed_and_collect(
    pipeline: RunningPipeline, files: Sequence[Path], *, timeout: float, progress: bool
) -> PipelineResults:
    from streams.kafka_io import file_payloads
    from streams.progress import ProgressBar

    bar = ProgressBar("processing") if progress and len(files) > 1 else None
    payloads = file_payloads(files)
    _, results = await publish_and_collect(pipeline.settings, pipeline.worker, payloads, timeout=timeout, progress=bar)
    return results


async def publish_and_collect(
    settings: Settings,
    worker: WorkerProcess,
    payloads: Iterable[tuple[str, bytes]],
    *,
    timeout: float,
    progress: ProgressBar | None = None,
) -> tuple[list[Published], PipelineResults]:
    """Publish inputs in order (one partition) and wait until the worker has processed all of them."""
    from streams.kafka_io import ResultCollector, publish_payloads

    published = await publish_payloads(settings, payloads, uuid.uuid4().hex[:12], ordered=True)
    collector = ResultCollector(settings, [p.source_id for p in published], progress, health=worker.problem)
    return published, await collector.collect(timeout)


# A replay group has one member, so a short session costs nothing and makes the join ~1 s on the embedded broker.
# Apache Kafka refuses sessions under its group.min.session.timeout.ms (6 s by default): a run on a broker of the
# user's keeps the configured session timeout.
EMBEDDED_SESSION_TIMEOUT = 2.0


def isolated(settings: Settings, *, embedded_broker: bool = True) -> Settings:
    """A fresh namespace (topics, group, state dir) so a replay sees only its own inputs."""
    run = uuid.uuid4().hex[:10]
    data_dir = Path(tempfile.mkdtemp(prefix=f"takeback-{run}-"))
    session = EMBEDDED_SESSION_TIMEOUT if embedded_broker else settings.session_timeout
    return settings.with_overrides(
        topic_prefix=f"replay-{run}.", data_dir=data_dir, web_port=free_port(), session_timeout=session
    )


def write_replay_output(results: PipelineResults, out: Path) -> None:
    """The `replay` contract: takebacks.jsonl, net_cash.json, dead_letters.jsonl."""
    out.mkdir(parents=True, exist_ok=True)
    live = [t for t in results.takebacks.values() if not t.withdrawn]
    takebacks = sorted(live, key=lambda t: (t.provider_id, str(t.takeback_date or ""), t.event_id))
    with (out / "takebacks.jsonl").open("w") as fh:
        for takeback in takebacks:
            fh.write(takeback.model_dump_json() + "\n")
    rows = [row.model_dump(mode="json") for _, row in sorted(results.net_cash.items())]
    (out / "net_cash.json").write_text(json.dumps(rows, indent=2) + "\n")
    with (out / "dead_letters.jsonl").open("w") as fh:
        for dead in sorted(results.dead_letters, key=lambda d: (d.source.source_id or "", d.source.byte_offset or 0)):
            fh.write(dead.model_dump_json() + "\n")


def write_deposit_lines(records: Iterable[Reassociation], out: Path) -> None:
    """The `replay` contract, rules §10: deposits.jsonl, one line per reassociation record (latest revision)."""
    from streams.domain.bank.replay_lines import deposit_lines

    lines = deposit_lines(records)
    (out / "deposits.jsonl").write_text("".join(line + "\n" for line in lines))


def replay(
    settings: Settings, inputs: Sequence[str], out: Path, *, broker: str | None = None, timeout: float = 600.0
) -> PipelineResults:
    """Run files through a fresh pipeline and write what it found; a backfill is published in canonical order."""
    files = expand_inputs(inputs)
    if not files:
        raise FileNotFoundError("no input files to replay")
    run_settings = isolated(settings, embedded_broker=broker is None)
    with running_pipeline(run_settings, broker, run_settings.data_dir) as pipeline:
        from streams.kafka_io import collect_reassociations

        # A directory's file names seldom say when each payment was made: publishing in the ledger's canonical
        # order keeps every ledger on its in-order path. The pre-read runs while the worker starts.
        ordered = in_canonical_order(files)
        results = asyncio.run(feed_and_collect(pipeline, ordered, timeout=timeout, progress=True))
        reassociations = asyncio.run(collect_reassociations(pipeline.settings, timeout, pipeline.worker.problem))
        pipeline.worker.discard()  # everything is read; the run's namespace is thrown away with it
    write_replay_output(results, out)
    write_deposit_lines(reassociations.values(), out)
    return results
