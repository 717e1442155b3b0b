"""Publishing an input exactly once, across crashes and retries: the journal and the publisher of the feeds.

The rule: an input's id comes from its content (or from the HTTP client's Idempotency-Key), and its messages are
the ones `takeback publish` sends (`input_messages`: cut by size and payee, keyed by ledger), named `<id>` or
`<id>.<n>`. Before the first message goes out, a `publishing` record (with the raw topics' end offsets) is
appended to the journal and flushed to disk; after the last is acknowledged, a `published` record. A process killed
in between finds the `publishing` record when it starts again, reads the raw topics from those offsets for the
pieces already there, and sends only the others: no piece twice, none skipped. Downstream is idempotent by content
as well (a remittance seen before is a `duplicate` for its ledger, rules §1), so even a piece sent twice would
change no figure; the journal keeps the raw topics free of such repeats.

The journal is a JSON-lines file: each record is appended and fsynced before the feed goes on (a torn last line,
from a crash while writing it, is ignored: the step it recorded had not happened). It is rewritten atomically
(temporary file, fsync, rename) with one record per input and per file when it is opened, so it does not grow
with every restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from aiokafka import AIOKafkaProducer

from streams.domain.bank.detect import bank_file_format
from streams.kafka_io import (
    SOURCE_ID_HEADER,
    end_offsets_of,
    input_messages,
    producer_for,
    read_since,
    send_input_messages,
)
from streams.settings import Settings

State = Literal["publishing", "published", "duplicate", "rejected"]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def input_id_for(prefix: str, key: str) -> str:
    """A feed's id of an input: its prefix and 24 hex digits of the key's hash (the content's, or a client's key)."""
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def not_an_input(data: bytes) -> str | None:
    """Why a file is none of what `publish` takes (an 835 with or without its ISA envelope, a Remittance as JSON,
    a NACHA or BAI2 bank file), or None. Deeper faults are the reader's, reported as dead letters downstream."""
    if not data.strip():
        return "the file is empty"
    start = data.lstrip(b"\xef\xbb\xbf\r\n\t ")
    x12 = start[:3] == b"ISA" or (start[:2] == b"ST" and len(start) > 2 and not start[2:3].isalnum())
    if bank_file_format(data) or x12 or start[:1] == b"{":
        return None
    return "neither an X12 835 (ISA or ST), a Remittance as JSON, nor a NACHA or BAI2 bank file"


@dataclass
class JournalRecord:
    input_id: str
    state: State
    sha256: str
    name: str
    size: int
    at: float = field(default_factory=time.time)
    pieces: int = 0  # messages the input is published as
    since: dict[str, int] = field(default_factory=dict)  # raw topics' ends before publishing ("topic:partition")
    path: str | None = None  # watch: the file's path in the folder, with mtime_ns: a file handled already
    mtime_ns: int | None = None
    reason: str | None = None  # rejected: why; duplicate: the name published first
    status_since: dict[str, int] = field(default_factory=dict)  # HTTP: receipts' and dead letters' ends


class JournalInUse(OSError):
    """Another process holds the journal: two watchers of one folder would each publish its files."""


class Journal:
    """What a feed published, rejected or found duplicate; see the module docstring for how it is written. One
    process at a time holds it (an flock on `<journal>.lock`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = lock_path(path).open("a")
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise JournalInUse(f"another process is using {path} (a second watcher of the folder?)") from None
        self.inputs: dict[str, JournalRecord] = {}  # input id -> its publishing or published record
        self.files: dict[str, JournalRecord] = {}  # path in the folder -> the latest record about it
        self._load()
        self._compact()
        self._out = self.path.open("a", encoding="utf-8")

    def _load(self) -> None:
        if not self.path.exists():
            return
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = JournalRecord(**json.loads(line))
            except (ValueError, TypeError):
                continue  # a line torn by a crash while it was written: its step had not happened
            self._take(record)

    def _take(self, record: JournalRecord) -> None:
        known = self.inputs.get(record.input_id)
        publish_step = record.state in ("publishing", "published")
        if publish_step and (known is None or known.state != "published" or record.state == "published"):
            self.inputs[record.input_id] = record
        if record.path is not None:
            self.files[record.path] = record

    def _compact(self) -> None:
        records = {id(r): r for r in [*self.inputs.values(), *self.files.values()]}.values()
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(asdict(r)) + "\n" for r in sorted(records, key=lambda r: r.at))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        _fsync_folder(self.path.parent)

    def append(self, record: JournalRecord) -> None:
        """Record a step, on disk before the feed takes the next one."""
        self._out.write(json.dumps(asdict(record)) + "\n")
        self._out.flush()
        os.fsync(self._out.fileno())
        self._take(record)

    def published(self, input_id: str) -> JournalRecord | None:
        record = self.inputs.get(input_id)
        return record if record is not None and record.state == "published" else None

    def close(self) -> None:
        self._out.close()
        self._lock.close()  # releases the flock


def lock_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".lock")


def _fsync_folder(folder: Path) -> None:
    """A rename is durable once its folder is flushed (POSIX); some file systems cannot, which is harmless."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


@dataclass
class Delivery:
    input_id: str
    pieces: int
    resent: int  # pieces sent now (fewer than `pieces` when a killed run had sent the others)
    duplicate_of: JournalRecord | None = None  # set when the input was published before: nothing was sent


class OncePublisher:
    """Publishes inputs exactly once, recording each step in a journal (module docstring). Use as
    `async with OncePublisher(settings, journal) as publisher:`."""

    def __init__(self, settings: Settings, journal: Journal) -> None:
        self.settings = settings
        self.journal = journal
        self.producer: AIOKafkaProducer | None = None

    async def __aenter__(self) -> OncePublisher:
        self.producer = producer_for(self.settings)
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.producer is not None:
            await self.producer.stop()

    def raw_topics(self) -> list[str]:
        return [self.settings.topic_names.raw, self.settings.topic_names.bank_raw]

    async def raw_ends(self) -> dict[str, int]:
        """The raw topics' ends now: take them once per batch of inputs and pass them to `publish`."""
        return await end_offsets_of(self.settings, self.raw_topics())

    async def publish(self, record: JournalRecord, data: bytes, since: dict[str, int] | None = None) -> Delivery:
        """Publish `data` under `record.input_id` unless the journal says it was published; resume a publish a
        killed run began. `record` is the `publishing` record to write (name, size, hash, path)."""
        assert self.producer is not None, "use OncePublisher in `async with`"
        earlier = self.journal.inputs.get(record.input_id)
        if earlier is not None and earlier.state == "published":
            return Delivery(record.input_id, earlier.pieces, 0, duplicate_of=earlier)
        messages = input_messages(record.name, data, record.input_id, self.settings.max_input_bytes)
        if earlier is not None:  # a run was killed while publishing it: some pieces may be on the broker
            present = await self._pieces_on_broker(earlier.since, {m.source_id for m in messages})
            record.since = earlier.since
        else:
            present = set()
            record.since = since if since is not None else await self.raw_ends()
        record.state, record.pieces = "publishing", len(messages)
        self.journal.append(record)
        missing = [m for m in messages if m.source_id not in present]
        await send_input_messages(self.producer, self.settings, missing)
        done = JournalRecord(**{**asdict(record), "state": "published", "at": time.time()})
        self.journal.append(done)
        return Delivery(record.input_id, len(messages), len(missing))

    async def _pieces_on_broker(self, since: dict[str, int], wanted: set[str]) -> set[str]:
        found: set[str] = set()
        for message in await read_since(self.settings, self.raw_topics(), since):
            for key, value in message.headers or ():
                if key == SOURCE_ID_HEADER and value.decode("utf-8", "replace") in wanted:
                    found.add(value.decode())
        return found
