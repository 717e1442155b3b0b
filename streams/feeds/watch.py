"""`takeback watch DIR`: publish each ERA or bank file dropped in a folder (or its subfolders), exactly once.

The folder is polled (every `interval` seconds): portable (local disks, NFS and SFTP-served folders, where change
notifications are unreliable) and cheap for the few files a drop folder gets. A file is complete, and read, when
its size and modification time have not changed for `settle` seconds (a writer still appending moves its mtime);
it is stat-ed again after reading, so a writer that resumed meanwhile makes the watcher wait for the next pass.
Files named `*.part` and dot-files are ignored until renamed: a sender that writes `x.835.part` and renames it when
done is never read early, however long it pauses. A sender pausing longer than `settle` without that convention
would be read early: set `settle` above its longest pause.

Each complete file is published as `takeback publish` does (streams/feeds/delivery.py: same messages, topics and
ledger keys), under an id from its content, so the same file dropped again under another name is a duplicate:
reported, not published. The journal (default DIR/.takeback-watch.jsonl) records every step, so a watcher killed
at any point and started again neither publishes a file twice nor skips one. With `move`, published and duplicate
files go to DIR/processed/ and unreadable ones to DIR/rejected/ with `<name>.reason.txt` next to them.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from streams.feeds.delivery import (
    Journal,
    JournalRecord,
    OncePublisher,
    content_hash,
    input_id_for,
    lock_path,
    not_an_input,
)
from streams.inputs import folder_files, printable
from streams.progress import ProgressBar
from streams.settings import Settings

PROCESSED, REJECTED = "processed", "rejected"
STATE_FILE = ".takeback-watch.jsonl"
ID_PREFIX = "watch"


class WatchMetrics:
    """The watcher's Prometheus metrics (its own registry and port; streams/metrics.py's naming)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.seen = Counter("takeback_watch_files_seen", "Files found in the watched folder.", registry=r)
        self.published = Counter("takeback_watch_files_published", "Files published to the raw topics.", registry=r)
        self.duplicates = Counter(
            "takeback_watch_duplicate_files", "Files whose content was published before: not published.", registry=r
        )
        self.rejected = Counter(
            "takeback_watch_files_rejected",
            "Files not published: unreadable, or neither an 835 nor a bank file.",
            registry=r,
        )
        self.bytes = Counter("takeback_watch_published_bytes", "Bytes of the files published.", registry=r)
        self.oldest = Gauge(
            "takeback_watch_oldest_unpublished_age_seconds",
            "Age (since its last change) of the oldest file in the folder not published yet; 0 when none waits.",
            registry=r,
        )

    def serve(self, host: str, port: int) -> None:
        if port:
            start_http_server(port, addr=host, registry=self.registry)


@dataclass
class WatchOptions:
    folder: Path
    settle: float = 5.0  # seconds a file's size and mtime must stay unchanged
    interval: float = 2.0  # seconds between passes
    move: bool = False
    follow_links: bool = False
    state: Path | None = None  # the journal; default folder/STATE_FILE
    once: bool = False

    @property
    def journal_path(self) -> Path:
        return self.state or self.folder / STATE_FILE


@dataclass
class Candidate:
    path: Path
    relative: str
    size: int
    mtime_ns: int


@dataclass
class PassResult:
    published: int = 0
    duplicates: int = 0
    rejected: int = 0
    waiting: list[Candidate] = field(default_factory=list)  # still being written, or not published (broker down)


class Watcher:
    def __init__(self, settings: Settings, options: WatchOptions, metrics: WatchMetrics | None = None) -> None:
        self.settings = settings
        self.options = options
        self.metrics = metrics or WatchMetrics()
        self.journal = Journal(options.journal_path)
        self._seen: set[str] = set()  # paths of files counted as seen and not handled yet

    # ----------------------------------------------------------------------- listing

    def candidates(self) -> list[Candidate]:
        """Files in the folder not handled yet (in move mode: every file left in it, whatever the journal says)."""
        root = self.options.folder
        exclude = [root / PROCESSED, root / REJECTED]
        journal = self.options.journal_path.resolve()
        journal_files = {journal, journal.with_name(journal.name + ".tmp"), lock_path(journal)}  # --state in DIR
        found = []
        for path in folder_files(root, recursive=True, follow_links=self.options.follow_links, exclude=exclude):
            if path.resolve() in journal_files:
                continue
            try:
                stat = path.stat()
            except OSError:
                continue  # gone meanwhile (moved by its sender)
            relative = path.relative_to(root).as_posix()
            candidate = Candidate(path, relative, stat.st_size, stat.st_mtime_ns)
            if self._handled(candidate) and not self.options.move:
                continue
            if relative not in self._seen:  # a file still being written is seen once, whatever sizes it passes
                self._seen.add(relative)
                self.metrics.seen.inc()
            found.append(candidate)
        return found

    def _handled(self, candidate: Candidate) -> bool:
        record = self.journal.files.get(candidate.relative)
        return (
            record is not None
            and record.state != "publishing"
            and (record.size, record.mtime_ns) == (candidate.size, candidate.mtime_ns)
        )

    def settled(self, candidate: Candidate, now: float) -> bool:
        return now - candidate.mtime_ns / 1e9 >= self.options.settle

    # ----------------------------------------------------------------------- one pass

    async def run_pass(self, publisher: OncePublisher, progress: ProgressBar | None = None) -> PassResult:
        result = PassResult()
        candidates = self.candidates()
        now = time.time()
        ready = [c for c in candidates if self.settled(c, now)]
        result.waiting = [c for c in candidates if not self.settled(c, now)]
        since: dict[str, int] | None = None
        for done, candidate in enumerate(ready, start=1):
            try:
                if since is None and not self._handled(candidate):
                    since = await publisher.raw_ends()  # once per pass: where a resume would read from
                outcome = await self.handle(publisher, candidate, since)
            except Exception as exc:
                # One file must not stop the others: it waits for the next pass (its age shows in the metrics).
                if self.options.once:
                    raise
                what = str(exc) if isinstance(exc, (KafkaError, OSError)) else f"{type(exc).__name__}: {exc}"
                say(f"could not publish {candidate.relative}, trying again on the next pass: {what}")
                result.waiting.append(candidate)
                continue
            if outcome != "changed":
                self._seen.discard(candidate.relative)  # a new file at this path later is a new file seen
            if outcome == "published":
                result.published += 1
            elif outcome == "duplicate":
                result.duplicates += 1
            elif outcome == "rejected":
                result.rejected += 1
            elif outcome == "changed":
                result.waiting.append(candidate)
            if progress is not None:
                progress.update(done, len(ready))
        oldest = min((c.mtime_ns / 1e9 for c in result.waiting), default=None)
        self.metrics.oldest.set(0 if oldest is None else max(0.0, time.time() - oldest))
        return result

    async def handle(self, publisher: OncePublisher, candidate: Candidate, since: dict[str, int] | None) -> str:
        """Publish, report as a duplicate, or reject one complete file; in move mode, move it after. Returns
        "published", "duplicate", "rejected", "moved" (handled by an earlier run) or "changed" (written to while
        read: the next pass reads it again)."""
        try:
            data = candidate.path.read_bytes()
            after = candidate.path.stat()
        except OSError as exc:
            return self._reject(candidate, "", f"cannot read the file: {exc.strerror or exc}")
        if (after.st_size, after.st_mtime_ns) != (candidate.size, candidate.mtime_ns) or len(data) != candidate.size:
            return "changed"
        digest = content_hash(data)
        record = self.journal.files.get(candidate.relative)
        if self._handled(candidate) and record is not None and record.sha256 == digest:
            self._move(candidate, record)  # move mode: an earlier run handled it, and stopped before moving it
            return "moved"
        problem = not_an_input(data)
        if problem:
            return self._reject(candidate, digest, problem)
        new = JournalRecord(
            input_id=input_id_for(ID_PREFIX, digest),
            state="publishing",
            sha256=digest,
            name=printable(candidate.path.name),
            size=candidate.size,
            path=candidate.relative,
            mtime_ns=candidate.mtime_ns,
        )
        delivery = await publisher.publish(new, data, since)
        if delivery.duplicate_of is not None:
            first = delivery.duplicate_of
            duplicate = JournalRecord(
                **{**vars(new), "state": "duplicate", "reason": f"same content as {first.path or first.name}"}
            )
            self.journal.append(duplicate)
            self.metrics.duplicates.inc()
            say(f"duplicate: {candidate.relative} has the content of {first.path or first.name} ({first.input_id})")
            self._move(candidate, duplicate)
            return "duplicate"
        self.metrics.published.inc()
        self.metrics.bytes.inc(candidate.size)
        earlier = delivery.pieces - delivery.resent
        resumed = f", {earlier} of them sent by a run that was stopped" if earlier else ""
        say(f"published {candidate.relative} as {delivery.input_id} ({delivery.pieces} messages{resumed})")
        self._move(candidate, self.journal.files[candidate.relative])
        return "published"

    def _reject(self, candidate: Candidate, digest: str, reason: str) -> str:
        record = JournalRecord(
            input_id=input_id_for(ID_PREFIX, digest or candidate.relative),
            state="rejected",
            sha256=digest,
            name=candidate.path.name,
            size=candidate.size,
            path=candidate.relative,
            mtime_ns=candidate.mtime_ns,
            reason=reason,
        )
        self.journal.append(record)
        self.metrics.rejected.inc()
        say(f"rejected {candidate.relative}: {reason}")
        self._move(candidate, record)
        return "rejected"

    def _move(self, candidate: Candidate, record: JournalRecord) -> None:
        if not self.options.move:
            return
        target = self.options.folder / (REJECTED if record.state == "rejected" else PROCESSED) / candidate.relative
        target = _free_name(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if record.state == "rejected":
            Path(f"{target}.reason.txt").write_text(f"{record.reason}\n", encoding="utf-8")
        shutil.move(candidate.path, target)

    # ----------------------------------------------------------------------- the loop

    async def run(self) -> PassResult:
        """Pass after pass until stopped (or once). The first pass over a backlog shows a progress line."""
        total = PassResult()
        async with OncePublisher(self.settings, self.journal) as publisher:
            backlog = self.candidates()
            progress = None
            if backlog:
                size = sum(c.size for c in backlog)
                say(f"watching {self.options.folder}: {len(backlog)} files ({size:,} bytes) waiting; publishing them")
                progress = ProgressBar("backlog")
            else:
                say(f"watching {self.options.folder}: no file waiting")
            while True:
                result = await self.run_pass(publisher, progress)
                progress = None
                total.published += result.published
                total.duplicates += result.duplicates
                total.rejected += result.rejected
                total.waiting = result.waiting
                if self.options.once:
                    return total
                await asyncio.sleep(self.options.interval)

    def close(self) -> None:
        self.journal.close()


def _free_name(target: Path) -> Path:
    """`target`, or `target` with a number added when a file of that name was moved there before."""
    number = 1
    candidate = target
    while candidate.exists():
        candidate = target.with_name(f"{target.stem}.{number}{target.suffix}")
        number += 1
    return candidate


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def watch(settings: Settings, options: WatchOptions, metrics_port: int = 0) -> PassResult:
    if not options.folder.is_dir():
        raise FileNotFoundError(f"no such folder: {options.folder}")
    metrics = WatchMetrics()
    metrics.serve(settings.web_host, metrics_port)
    watcher = Watcher(settings, options, metrics)
    try:
        return asyncio.run(watcher.run())
    finally:
        with contextlib.suppress(OSError):
            watcher.close()
