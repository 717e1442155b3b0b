"""Plain aiokafka clients for the edges of the pipeline: creating topics, publishing files, reading results.

The agents run inside Faust; feeds, `replay` and the demo talk to the broker
with the raw client, which costs far less per message and needs no group join (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas import DeadLetter, NetCashRow, Reassociation, Receipt, Takeback
from streams.domain.bank.detect import bank_file_format
from streams.domain.bank.matcher import ReassociationInput
from streams.domain.cash_shares import combine_shares, latest_share
from streams.domain.chunking import ledger_key_of, split_input
from streams.inputs import file_label
from streams.progress import ProgressBar
from streams.security import kafka_client_kwargs
from streams.settings import Settings

SOURCE_FILE_HEADER = "takeback-file"
SOURCE_ID_HEADER = "takeback-source-id"
CHUNK_HEADER = "takeback-chunk"  # "<file offset>:<envelope header length>" of a piece of a split file
OVERSIZE_HEADER = "takeback-oversize"  # bytes of a transaction set too large to send (the piece is an excerpt)
ACCEPT_HEADER = "takeback-accept"  # id of the unbalanced remittance a person accepted (dead-letters replay --accept)


def topic_list(settings: Settings) -> list[str]:
    names = settings.topic_names
    return [
        names.raw,
        names.remittances,
        names.remittances_rekeyed,
        names.reversals,
        names.recoupments,
        names.dead_letters,
        names.net_cash,
        names.net_cash_shares,
        names.receipts,
        names.bank_raw,
        names.reassociation_in,
        names.reassociations,
        names.actions,
    ]


async def ensure_topics(settings: Settings) -> None:
    """Create the pipeline's topics if missing, with explicit configs (Tansu reports none otherwise)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, **kafka_client_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        configs = {
            "retention.ms": "-1",
            "cleanup.policy": "delete",
            "max.message.bytes": str(settings.max_input_bytes + 1024 * 1024),
        }
        missing = [
            NewTopic(name, settings.partitions, settings.replication_factor, topic_configs=configs)
            for name in topic_list(settings)
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process created it meanwhile
                await admin.create_topics(missing)
    finally:
        await admin.close()


@dataclass
class Published:
    source_id: str
    file: str


def producer_for(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        max_request_size=settings.max_input_bytes + 1024 * 1024,
        linger_ms=5,
        acks="all",
        **kafka_client_kwargs(settings),
    )


def consumer_for(settings: Settings, fetch_max_wait_ms: int = 100) -> AIOKafkaConsumer:
    """A group-less reader (the caller assigns partitions) that takes the largest input in one fetch."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=fetch_max_wait_ms,
        max_partition_fetch_bytes=settings.max_input_bytes + 1024 * 1024,
        **kafka_client_kwargs(settings),
    )


async def publish_files(
    settings: Settings, files: Sequence[Path], *, ordered: bool = False, run_id: str | None = None
) -> list[Published]:
    """Put each file on era.raw, one message per file.

    ``ordered`` sends every file to one partition so they are ingested in the
    order given (replay); feeds key files by the payee's ledger (see chunking.ledger_key_of).
    """
    return await publish_payloads(settings, file_payloads(files), run_id or uuid.uuid4().hex[:12], ordered=ordered)


def file_payloads(files: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each file, read one at a time so a backfill never holds every file in memory."""
    return ((file_label(path), path.read_bytes()) for path in files)


# --------------------------------------------------------------------------- reading results


@dataclass
class PipelineResults:
    """What the pipeline produced for a set of inputs, once every input is fully processed."""

    takebacks: dict[str, Takeback] = field(default_factory=dict)  # event_id -> latest revision
    net_cash: dict[str, NetCashRow] = field(default_factory=dict)  # provider_id -> its latest shares combined
    shares: dict[str, dict[str, NetCashRow]] = field(default_factory=dict)  # provider_id -> ledger key -> latest
    dead_letters: list[DeadLetter] = field(default_factory=list)
    ingested: dict[str, Receipt] = field(default_factory=dict)  # source_id -> ingested receipt
    processed: dict[tuple[str, int], Receipt] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    redelivered: int = 0  # processed receipts for a remittance already processed (at-least-once at work)


class PipelineStalled(RuntimeError):
    """The pipeline did not finish processing the inputs within the time allowed."""


class ResultCollector:
    """Reads receipts and outputs until every published input is accounted for.

    Done means: an `ingested` receipt for every input, a `processed` receipt for
    every remittance it produced, and every takeback revision and cash share those
    receipts announced has been read.  Counts come from receipts, never from
    partition end offsets (which Tansu under-reports).

    Cash is read from the ledgers' shares (`net-cash.shares`), not from `net-cash`: a receipt names the ledger
    that applied its remittance and that ledger's revision, and a batch publishes every NPI's share of a ledger
    it touched at the ledger's revision, so each (NPI, ledger) named by a receipt is complete once its share
    reaches the highest revision any receipt gave the ledger. The rows are then the shares summed with
    `combine_shares`, as the cash agent sums them. The collector also waits for the cash agent to publish each of
    those rows on `net-cash` (a revision at least the sum of the shares' revisions), so that once `replay` is done
    the public topic holds what its files hold (the sink reads it).
    """

    def __init__(
        self,
        settings: Settings,
        sources: Iterable[str],
        progress: ProgressBar | None = None,
        health: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.health = health  # returns why the pipeline cannot finish (a dead worker), or None
        self.sources = set(sources)
        self.results = PipelineResults()
        self.progress = progress
        self._wanted_revisions: dict[str, int] = {}
        self._wanted_ledger: dict[str, int] = {}  # ledger key -> highest revision a receipt announced
        self._npis_of_ledger: dict[str, set[str]] = {}  # ledger key -> NPIs whose receipts named it
        self._published: dict[str, int] = {}  # NPI -> highest revision of its row on net-cash
        self._dead_letters_expected = 0
        self._dead_letter_ids: set[str] = set()

    def done(self) -> bool:
        r = self.results
        if set(r.ingested) != self.sources:
            return False
        expected = sum(r.ingested[s].remittances for s in self.sources)
        if len(r.processed) < expected:
            return False
        if any(_older(r.takebacks.get(e), rev) for e, rev in self._wanted_revisions.items()):
            return False
        if self._missing_shares() or self._missing_rows():
            return False
        return len(r.dead_letters) >= self._dead_letters_expected

    def _missing_rows(self) -> int:
        """NPIs whose row on net-cash is older than the sum of the shares read (the row the cash agent will send)."""
        npis = set().union(*self._npis_of_ledger.values())
        shares = self.results.shares
        return sum(self._published.get(npi, -1) < sum(s.revision for s in shares.get(npi, {}).values()) for npi in npis)

    def _missing_shares(self) -> int:
        shares = self.results.shares
        return sum(
            _older(shares.get(npi, {}).get(key), revision)
            for key, revision in self._wanted_ledger.items()
            for npi in self._npis_of_ledger[key]
        )

    def _take(self, topic: str, value: bytes) -> None:
        names = self.settings.topic_names
        r = self.results
        if topic == names.receipts:
            receipt = Receipt.model_validate_json(value)
            if receipt.source_id not in self.sources:
                return
            if receipt.stage == "ingested":
                if receipt.source_id not in r.ingested:
                    self._dead_letters_expected += receipt.dead_letters
                r.ingested[receipt.source_id] = receipt
            else:
                key = (receipt.source_id, receipt.sequence or 0)
                if key in r.processed:
                    r.redelivered += 1
                else:
                    r.outcomes[receipt.outcome or "unknown"] = r.outcomes.get(receipt.outcome or "unknown", 0) + 1
                    if receipt.outcome == "dead_letter":
                        self._dead_letters_expected += 1
                r.processed[key] = receipt
                for event_id, revision in receipt.takeback_revisions.items():
                    self._wanted_revisions[event_id] = max(revision, self._wanted_revisions.get(event_id, 0))
                if receipt.cash_revision is not None and receipt.provider_id:
                    ledger = receipt.ledger_key or receipt.provider_id  # from before ledger keys: the NPI's
                    wanted = {**receipt.other_shares, ledger: receipt.cash_revision}  # other: rules §2 versions
                    for key, revision in wanted.items():
                        self._wanted_ledger[key] = max(revision, self._wanted_ledger.get(key, 0))
                        self._npis_of_ledger.setdefault(key, set()).add(receipt.provider_id)
            if self.progress:
                self.progress.update(len(r.ingested), len(self.sources))
        elif topic in (names.reversals, names.recoupments):
            takeback = Takeback.model_validate_json(value)
            current = r.takebacks.get(takeback.event_id)
            if current is None or takeback.revision >= current.revision:
                r.takebacks[takeback.event_id] = takeback
        elif topic == names.net_cash_shares:
            share = NetCashRow.model_validate_json(value)
            shares = r.shares.setdefault(share.provider_id, {})
            key = share.ledger_key or share.provider_id
            shares[key] = latest_share(shares.get(key), share)
        elif topic == names.net_cash:
            row = NetCashRow.model_validate_json(value)
            self._published[row.provider_id] = max(row.revision, self._published.get(row.provider_id, -1))
        elif topic == names.dead_letters:
            dead = DeadLetter.model_validate_json(value)
            if dead.source.source_id in self.sources and dead.dead_letter_id not in self._dead_letter_ids:
                self._dead_letter_ids.add(dead.dead_letter_id)
                r.dead_letters.append(dead)

    async def collect(self, timeout: float) -> PipelineResults:
        names = self.settings.topic_names
        topics = [names.receipts, names.reversals, names.recoupments, names.net_cash_shares, names.net_cash]
        topics.append(names.dead_letters)
        consumer = consumer_for(self.settings)
        await consumer.start()
        try:
            partitions = await _all_partitions(consumer, topics)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while not self.done():
                if loop.time() > deadline:
                    raise PipelineStalled(self._stall_reason(timeout))
                problem = self.health()
                if problem:
                    raise PipelineStalled(problem)
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                for tp, messages in batches.items():
                    for message in messages:
                        self._take(tp.topic, message.value)
        finally:
            await consumer.stop()
        results = self.results
        results.net_cash = {npi: combine_shares(shares.values()) for npi, shares in sorted(results.shares.items())}
        return results

    def _stall_reason(self, timeout: float) -> str:
        r = self.results
        expected = sum(x.remittances for x in r.ingested.values())
        missing_takebacks = sum(_older(r.takebacks.get(e), v) for e, v in self._wanted_revisions.items())
        missing_shares, missing_rows = self._missing_shares(), self._missing_rows()
        return (
            f"the pipeline did not finish within {timeout:.0f} s: {len(r.ingested)}/{len(self.sources)} inputs "
            f"ingested, {len(r.processed)}/{expected} remittances processed, {missing_takebacks} takeback "
            f"revisions and {missing_shares} cash shares announced but not seen, {missing_rows} net cash rows not "
            f"published yet, "
            f"{len(r.dead_letters)}/{self._dead_letters_expected} dead letters"
        )


def _older(event: Takeback | NetCashRow | None, revision: int) -> bool:
    return event is None or event.revision < revision


async def _all_partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    partitions: list[TopicPartition] = []
    for topic in topics:
        ids = None
        for _ in range(50):  # metadata for a just-created topic can take a moment
            ids = consumer.partitions_for_topic(topic)
            if ids:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        if not ids:
            raise PipelineStalled(f"topic {topic} does not exist on the broker")
        partitions.extend(TopicPartition(topic, p) for p in sorted(ids))
    return partitions


async def read_topic(settings: Settings, topic: str, idle_seconds: float = 1.0) -> list[bytes]:
    """Every value on a topic, from the beginning to its true end, then until it has been quiet for `idle_seconds`.

    The end is read from the records (`true_end_offsets`): Tansu under-reports it. A caller that knows every
    record it wants is already written (a marker confirmed it) passes `idle_seconds=0`.
    """
    consumer = consumer_for(settings)
    await consumer.start()
    values: list[bytes] = []
    try:
        partitions = await _all_partitions(consumer, [topic])
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        while True:
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for messages in batches.values():
                values.extend(m.value for m in messages if m.value is not None)
            if batches:
                quiet_since = loop.time()
            caught_up = all([await consumer.position(tp) >= ends[tp] for tp in partitions])
            if caught_up and loop.time() - quiet_since >= idle_seconds:
                return values
    finally:
        await consumer.stop()


async def publish_payloads(
    settings: Settings,
    payloads: Iterable[tuple[str, bytes]],
    run_id: str,
    *,
    ordered: bool = False,
    headers: Sequence[tuple[str, bytes]] = (),
) -> list[Published]:
    """Put inputs (name, bytes) on era.raw (bank deposit files on bank.raw): files from feeds, or dead letters
    replayed.

    An input larger than `max_input_bytes`, or paying several payees, goes as
    several messages cut between transaction sets (streams/domain/chunking.py):
    no message and no worker ever holds more than the limit, and each piece is
    keyed by its payee.  ``ordered`` sends every input to one partition so they
    are ingested in the order given (replay). ``headers`` go on every message besides the input's own.
    """
    producer = producer_for(settings)
    await producer.start()
    published: list[Published] = []
    try:
        for index, (name, data) in enumerate(payloads):
            messages = input_messages(name, data, f"{run_id}-{index:06d}", settings.max_input_bytes)
            await send_input_messages(producer, settings, messages, headers=headers, ordered=ordered)
            published.extend(Published(source_id=m.source_id, file=name) for m in messages)
    finally:
        await producer.stop()
    return published


async def send_input_messages(
    producer: AIOKafkaProducer,
    settings: Settings,
    messages: Iterable[InputMessage],
    *,
    headers: Sequence[tuple[str, bytes]] = (),
    ordered: bool = False,
) -> None:
    """Send an input's messages (`input_messages`), each acknowledged by the broker before the next."""
    for message in messages:
        await producer.send_and_wait(
            input_topic(settings, message),
            key=message.key,
            value=message.value,
            headers=[*message.headers, *headers],
            partition=0 if ordered else None,
        )


def input_topic(settings: Settings, message: InputMessage) -> str:
    return settings.topic_names.bank_raw if message.bank_file else settings.topic_names.raw


@dataclass
class InputMessage:
    """One era.raw message: a whole input, or a piece of one."""

    source_id: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    bank_file: bool = False  # a NACHA or BAI2 deposit file: it goes to bank.raw, whole


def input_messages(name: str, data: bytes, source_id: str, max_bytes: int) -> list[InputMessage]:
    """The era.raw messages for one input: pieces cut by size and by payee, each keyed by its payee's ledger.

    A bank deposit file (told apart by content, rules §10) is one bank.raw message keyed by its id: its deposits
    are keyed by trace once read."""
    if bank_file_format(data):
        headers = [(SOURCE_FILE_HEADER, name.encode()), (SOURCE_ID_HEADER, source_id.encode())]
        return [InputMessage(source_id, source_id.encode(), data, headers, bank_file=True)]
    pieces = list(split_input(data, max_bytes))
    messages = []
    for number, piece in enumerate(pieces):
        piece_id = source_id + (f".{number + 1}" if len(pieces) > 1 else "")
        headers = [(SOURCE_FILE_HEADER, name.encode()), (SOURCE_ID_HEADER, piece_id.encode())]
        if len(pieces) > 1 or piece.oversize:
            headers.append((CHUNK_HEADER, f"{piece.file_offset}:{piece.header_length}".encode()))
        if piece.oversize:
            headers.append((OVERSIZE_HEADER, str(piece.oversize).encode()))
        key = (ledger_key_of(piece.data) or source_id).encode()
        messages.append(InputMessage(piece_id, key, piece.data, headers))
    return messages


async def true_end_offsets(settings: Settings, reported: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    """End offsets read from the records themselves: the reported end, moved past the last batch.

    Tansu reports a partition's end as the first offset of its last record batch + 1, so a reader that stops
    there skips the rest of that batch. Reading from the reported end - 1 returns that whole batch; its last
    record gives the true end. On Apache Kafka it returns the one record before the end: the same answer.
    """
    probe = [tp for tp, end in reported.items() if end and end > 0]
    if not probe:
        return dict(reported)
    consumer = consumer_for(settings, fetch_max_wait_ms=50)
    await consumer.start()
    ends = dict(reported)
    try:
        consumer.assign(probe)
        for tp in probe:
            consumer.seek(tp, reported[tp] - 1)
        waiting = set(probe)
        for _ in range(20):  # ~50 ms a fetch; a partition is done when its last batch has been read
            if not waiting:
                break
            batches = await consumer.getmany(*waiting, timeout_ms=100)
            for tp in list(waiting):
                records = batches.get(tp)
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
                else:
                    waiting.discard(tp)
    finally:
        await consumer.stop()
    return ends


async def end_offsets_of(settings: Settings, topics: Sequence[str]) -> dict[str, int]:
    """The (reported) end offset of every partition of `topics`, as {"topic:partition": offset}: where a later
    `read_since` starts. Tansu may under-report an end, which only makes that read start a little earlier."""
    consumer = consumer_for(settings)
    await consumer.start()
    try:
        partitions = await _all_partitions(consumer, topics)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {f"{tp.topic}:{tp.partition}": offset for tp, offset in ends.items()}


async def read_since(
    settings: Settings, topics: Sequence[str], since: dict[str, int] | None = None
) -> list[ConsumerRecord]:
    """Every record of `topics` from the offsets in `since` (from the beginning where it names none) to the
    topics' true ends now (`true_end_offsets`): what was written after `end_offsets_of` gave `since`."""
    since = since or {}
    consumer = consumer_for(settings)
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        partitions = await _all_partitions(consumer, topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        for tp in partitions:
            start = since.get(f"{tp.topic}:{tp.partition}")
            if start:
                consumer.seek(tp, start)
        ends = await true_end_offsets(settings, await consumer.end_offsets(partitions))
        waiting = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while waiting:
            batches = await consumer.getmany(*waiting, timeout_ms=200, max_records=5000)
            for tp, messages in batches.items():
                records.extend(m for m in messages if m.offset < ends[tp])
            waiting = {tp for tp in waiting if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return records


# --------------------------------------------------------------------------- reassociation results (rules §10)


async def collect_reassociations(
    settings: Settings, timeout: float, health: Callable[[], str | None] = lambda: None
) -> dict[str, Reassociation]:
    """The latest revision of every reassociation record, once the pipeline has processed what came before.

    Call it after the main pipeline is done (every input ingested and matched): a marker goes to every partition
    of reassociation.in, and the reassociate agent confirms each with a receipt once everything before it in
    that partition is processed and its records are stored on the broker; then the records are read to the end
    the topic had at that moment. Receipts and records are read by one consumer, from the start.
    """
    marker = f"reassociation-marker-{uuid.uuid4().hex[:12]}"
    names = settings.topic_names
    producer = producer_for(settings)
    await producer.start()
    try:
        value = ReassociationInput(marker=marker).model_dump_json(exclude_defaults=True).encode()
        sent = [
            await producer.send(names.reassociation_in, key=b"", value=value, partition=partition)
            for partition in range(settings.partitions)
        ]
        await asyncio.gather(*sent)
    finally:
        await producer.stop()
    return await _ReassociationReader(settings, marker, health).read(timeout)


class _ReassociationReader:
    """Reads the marker's receipts and the reassociation records together, until the records are complete."""

    def __init__(self, settings: Settings, marker: str, health: Callable[[], str | None]) -> None:
        self.settings = settings
        self.marker = marker
        self.health = health
        self.confirmed: set[int] = set()
        self.records: dict[str, Reassociation] = {}

    async def read(self, timeout: float) -> dict[str, Reassociation]:
        names = self.settings.topic_names
        # The worker's own fetch wait: Tansu answers a fetch when its wait runs out, so it sets each round trip.
        consumer = consumer_for(self.settings, fetch_max_wait_ms=self.settings.fetch_max_wait_ms)
        await consumer.start()
        try:
            receipts = await _all_partitions(consumer, [names.receipts])
            outputs = await _all_partitions(consumer, [names.reassociations])
            consumer.assign([*receipts, *outputs])
            await consumer.seek_to_beginning(*receipts, *outputs)
            deadline = asyncio.get_running_loop().time() + timeout
            ends: dict[TopicPartition, int] | None = None
            while True:
                self._check(deadline, timeout)
                self._take(await consumer.getmany(timeout_ms=200, max_records=5000))
                if ends is None and len(self.confirmed) >= self.settings.partitions:
                    # every record sent before the markers is stored now (the agent flushed before confirming)
                    ends = await consumer.end_offsets(outputs)
                if ends is not None and all([await consumer.position(tp) >= ends[tp] for tp in outputs]):
                    break
            # Tansu reports a partition's end as the first offset of its last record batch + 1 (see
            # `true_end_offsets`): the rest of that batch came in the same fetch and waits in the client's buffer.
            while batches := await consumer.getmany(*outputs, timeout_ms=0):
                self._take(batches)
        finally:
            await consumer.stop()
        return self.records

    def _check(self, deadline: float, timeout: float) -> None:
        if asyncio.get_running_loop().time() > deadline:
            raise PipelineStalled(
                f"reassociation did not finish within {timeout:.0f} s: "
                f"{len(self.confirmed)}/{self.settings.partitions} partitions confirmed"
            )
        problem = self.health()
        if problem:
            raise PipelineStalled(problem)

    def _take(self, batches: dict[TopicPartition, list]) -> None:
        receipts = self.settings.topic_names.receipts
        for tp, messages in batches.items():
            for message in messages:
                if tp.topic == receipts:
                    if self.marker.encode() not in message.value:  # most receipts are the inputs': skip unparsed
                        continue
                    receipt = Receipt.model_validate_json(message.value)
                    if receipt.source_id == self.marker and receipt.sequence is not None:
                        self.confirmed.add(receipt.sequence)
                    continue
                record = Reassociation.model_validate_json(message.value)
                current = self.records.get(record.event_id)
                if current is None or record.revision >= current.revision:
                    self.records[record.event_id] = record
