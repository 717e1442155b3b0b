"""Batched, idempotent writes of the takeback topics' events into PostgreSQL (tables: streams/sink/migrations.py).

Every write converges under redelivery, restarts and out-of-order revisions: a revision is inserted once
(takeback_revisions), the current row of a takeback or provider is replaced only by a newer revision (a provider's
row on `net-cash` is the sum of its ledgers' shares, whose revision only grows: streams/domain/cash_shares.py), a
dead letter is inserted once by its id. A batch is one transaction; a record the database refuses (e.g. a NUL
character, which PostgreSQL text cannot hold) is kept in rejected_events with the reason instead of failing the batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from schemas import DeadLetter, NetCashRow, Takeback
from streams.settings import TopicNames

log = logging.getLogger("takeback.sink")


@dataclass(frozen=True)
class Record:
    """One Kafka record, as the sink needs it."""

    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass
class Written:
    takeback_revisions: int = 0
    net_cash_rows: int = 0
    dead_letters: int = 0
    rejected: int = 0
    by_table: dict[str, int] = field(default_factory=dict)


_TAKEBACK_FIELDS = (
    "event_id, revision, kind, method, amount, provider_id, payee_provider_id, payer_id, payer_name, claim_id, "
    "payer_claim_control_number, trace_number, original_trace_number, takeback_date, reason_category, status, "
    "remaining, withdrawn, document, kafka_topic, kafka_partition, kafka_offset, payer_kind, day_one, act_by, "
    "deadline_kind, deadline_citation, lookback_outcome, lookback_state, beyond_lookback_limit, recovered_twice_excess"
)
_TAKEBACK_VALUES = ", ".join(["%s"] * len(_TAKEBACK_FIELDS.split(",")))
_TAKEBACK_UPDATES = ", ".join(
    f"{name} = EXCLUDED.{name}" for name in (f.strip() for f in _TAKEBACK_FIELDS.split(",")) if name != "event_id"
)

INSERT_REVISION = (
    f"INSERT INTO takeback_revisions ({_TAKEBACK_FIELDS}) VALUES ({_TAKEBACK_VALUES}) "
    "ON CONFLICT (event_id, revision) DO NOTHING"
)
UPSERT_TAKEBACK = (
    f"INSERT INTO takebacks ({_TAKEBACK_FIELDS}) VALUES ({_TAKEBACK_VALUES}) "
    f"ON CONFLICT (event_id) DO UPDATE SET {_TAKEBACK_UPDATES}, received_at = now() "
    "WHERE takebacks.revision < EXCLUDED.revision"
)
_CASH_FIELDS = (
    "provider_id",
    "revision",
    "net_cash",
    "claim_payments",
    "reversed",
    "recouped",
    "forward_balance",
    "refunds",
    "other_adjustments",
    "not_moved",
    "unexplained",
    "oldest_open_forward_balance",
    "last_remittance_date",
)
_CASH_VALUES = ", ".join(["%s"] * (len(_CASH_FIELDS) + 1))
UPSERT_CASH = (
    f"INSERT INTO net_cash ({', '.join(_CASH_FIELDS)}, document) VALUES ({_CASH_VALUES}) "
    "ON CONFLICT (provider_id) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in (*_CASH_FIELDS[1:], "document"))
    + ", updated_at = now() WHERE net_cash.revision < EXCLUDED.revision"
)
INSERT_DEAD_LETTER = (
    "INSERT INTO dead_letters (dead_letter_id, stage, error_code, message, file, source_id, document, raw) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (dead_letter_id) DO NOTHING"
)
INSERT_REJECTED = (
    "INSERT INTO rejected_events (kafka_topic, kafka_partition, kafka_offset, reason, value) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)


def sink_topics(names: TopicNames) -> list[str]:
    """The topics the sink keeps: takebacks of both kinds, net cash, dead letters."""
    return [names.reversals, names.recoupments, names.net_cash, names.dead_letters]


class SinkStore:
    def __init__(self, conn: psycopg.AsyncConnection, names: TopicNames) -> None:
        self.conn = conn
        self.names = names

    async def write(self, records: list[Record]) -> Written:
        """Write a batch in one transaction; records the database refuses are retried alone, then rejected."""
        try:
            async with self.conn.transaction():
                return await self._write_all(records)
        except psycopg.DataError:
            log.warning("a batch of %d records was refused; writing them one at a time", len(records))
        written = Written()
        for record in records:
            try:
                async with self.conn.transaction():
                    one = await self._write_all([record])
            except psycopg.DataError as exc:
                reason = f"PostgreSQL refused the event: {type(exc).__name__}"
                async with self.conn.transaction():
                    await self._reject(record, reason)
                one = Written(rejected=1)
            written.takeback_revisions += one.takeback_revisions
            written.net_cash_rows += one.net_cash_rows
            written.dead_letters += one.dead_letters
            written.rejected += one.rejected
        return written

    async def _write_all(self, records: list[Record]) -> Written:
        takebacks: list[tuple] = []
        cash: list[tuple] = []
        dead: list[tuple] = []
        written = Written()
        for record in records:
            try:
                row = self._row(record)
            except (ValidationError, ValueError) as exc:
                await self._reject(record, _reason(exc))
                written.rejected += 1
                continue
            if record.topic in (self.names.reversals, self.names.recoupments):
                takebacks.append(row)
            elif record.topic == self.names.net_cash:
                cash.append(row)
            else:
                dead.append(row)
        async with self.conn.cursor() as cursor:
            if takebacks:
                await cursor.executemany(INSERT_REVISION, takebacks)
                await cursor.executemany(UPSERT_TAKEBACK, takebacks)
            if cash:
                await cursor.executemany(UPSERT_CASH, cash)
            if dead:
                await cursor.executemany(INSERT_DEAD_LETTER, dead)
        written.takeback_revisions, written.net_cash_rows, written.dead_letters = len(takebacks), len(cash), len(dead)
        return written

    def _row(self, record: Record) -> tuple:
        if record.value is None:
            raise ValueError("the record has no value (a tombstone)")
        if record.topic in (self.names.reversals, self.names.recoupments):
            return _takeback_row(Takeback.model_validate_json(record.value), record)
        if record.topic == self.names.net_cash:
            return _cash_row(NetCashRow.model_validate_json(record.value))
        if record.topic == self.names.dead_letters:
            return _dead_letter_row(DeadLetter.model_validate_json(record.value))
        raise ValueError(f"the sink does not keep topic {record.topic}")

    async def _reject(self, record: Record, reason: str) -> None:
        log.warning("rejected %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason)
        await self.conn.execute(INSERT_REJECTED, (record.topic, record.partition, record.offset, reason, record.value))


def _reason(exc: Exception) -> str:
    """Why an event was rejected, without its content (it may hold patient data)."""
    if isinstance(exc, ValidationError):
        return f"the event does not match its schema ({exc.error_count()} errors, e.g. {exc.errors()[0]['type']})"
    return str(exc)


def _document(event: Takeback | NetCashRow | DeadLetter, **exclude: bool) -> Jsonb:
    return Jsonb(event.model_dump(mode="json", exclude=set(exclude) or None))


def _takeback_row(t: Takeback, record: Record) -> tuple:
    return (
        t.event_id, t.revision, t.kind, t.method, t.amount, t.provider_id, t.payee_provider_id, t.payer_id,
        t.payer_name, t.claim_id, t.payer_claim_control_number, t.trace_number, t.original_trace_number,
        t.takeback_date, t.reason_category, t.status, t.remaining, t.withdrawn, _document(t),
        record.topic, record.partition, record.offset,
        t.payer_kind, t.day_one, t.act_by, t.deadline_kind,
        t.deadline_source.citation if t.deadline_source else None,
        t.lookback.outcome if t.lookback else None, t.lookback.state if t.lookback else None,
        "beyond_lookback_limit" in t.flags, t.recovered_twice_excess,
    )  # fmt: skip


def _cash_row(row: NetCashRow) -> tuple:
    return (*(getattr(row, name) for name in _CASH_FIELDS), _document(row))


def _dead_letter_row(d: DeadLetter) -> tuple:
    raw = d.raw.encode("latin-1") if d.raw is not None else None  # bytea: an input may hold NUL bytes
    document = _document(d, raw=True)
    return (d.dead_letter_id, d.stage, d.error_code, d.message, d.source.file, d.source.source_id, document, raw)
