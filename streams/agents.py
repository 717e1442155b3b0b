"""The agents: read a message, call the domain, write the results. Nothing else lives here.

* ``ingest``:  era.raw (one message per 835 file, or per piece of one) -> remittances (keyed by payee) + dead letters
* ``match``:   remittances -> takebacks.reversal / takebacks.recoupment + net-cash rows,
               with the payee's ProviderLedger as table state (one header write per provider per batch)
* ``cash``:    net-cash rows -> the net-cash table that the HTTP API reads

Faust's cost is per message, so messages are whole files and whole
remittances, never single claims.  Every agent also writes a Receipt, which is
how `takeback replay` (and ops) know that an input has been fully processed.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from pydantic import ValidationError

from schemas import DeadLetter, NetCashRow, Receipt, Remittance, SourceRef, Takeback, TakebackKind
from streams.app import TakebackApp
from streams.cloudevents import cloudevent_headers, event_source
from streams.domain.ledger import (
    InvalidRemittance,
    MatchPolicy,
    ProviderLedger,
    apply_remittance,
    facts_from_json,
    settle,
)
from streams.domain.x12 import read_835
from streams.kafka_io import CHUNK_HEADER, OVERSIZE_HEADER, SOURCE_FILE_HEADER, SOURCE_ID_HEADER
from streams.settings import Settings

log = logging.getLogger("takeback.agents")


def _dead_letter(
    stage: str, code: str, message: str, source: SourceRef, raw: bytes | None, limit: int = 64 * 1024
) -> DeadLetter:
    key = f"{source.source_id}|{source.topic}|{source.partition}|{source.offset}|{code}"
    return DeadLetter(
        dead_letter_id=hashlib.sha256(key.encode()).hexdigest()[:32],
        stage=stage,
        error_code=code,
        message=message,
        source=source,
        raw=raw[:limit].decode("latin-1") if raw is not None else None,
    )


def _header(headers: object, name: str) -> str | None:
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    for key, value in items:
        if key == name:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def register_agents(tb: TakebackApp) -> None:
    app, topics, settings = tb.app, tb.topics, tb.settings
    policy = MatchPolicy(correction_wait_days=settings.correction_wait_days)
    source = event_source(app.conf.id)

    async def send_json(topic, key: str, event, *, compact: bool = False) -> None:
        """Publish an event as JSON. `compact` leaves out fields at their default (documented in the schema):
        a third smaller remittance, and 3-4x faster to decode downstream.

        Straight to the producer, not through `topic.send`: faust's per-message bookkeeping there (promises,
        sensors, callbacks) cost ~0.6 ms a message, most of a batch's time. Delivery is still guaranteed before
        the input's offset is committed: faust flushes the producer before every commit.
        Every event carries CloudEvents headers (streams/cloudevents.py); the payload is the event alone.
        """
        value = event.model_dump_json(exclude_defaults=compact).encode()
        headers = cloudevent_headers(event, source)
        await app.producer.send(
            topic.get_topic_name(), key.encode(), value, partition=None, timestamp=None, headers=headers
        )

    # ------------------------------------------------------------------ ingest

    @app.agent(topics.raw, name="ingest")
    async def ingest(stream):
        async for event in stream.events():
            message = event.message
            source_id = _header(message.headers, SOURCE_ID_HEADER) or f"{message.partition}:{message.offset}"
            file = _header(message.headers, SOURCE_FILE_HEADER)
            where = SourceRef(
                file=file, source_id=source_id, topic=message.topic, partition=message.partition, offset=message.offset
            )
            chunk = _header(message.headers, CHUNK_HEADER)
            oversize = _header(message.headers, OVERSIZE_HEADER)
            if oversize:
                remittances, dead_letters = [], [_oversize_dead_letter(event.value or b"", int(oversize), chunk, where)]
            else:
                remittances, dead_letters = _read_input(event.value or b"", file, source_id, where, settings)
                if chunk:
                    dead_letters = [_in_file_coordinates(d, chunk) for d in dead_letters]
            tb.metrics.ingested(dead_letters)
            published_at = message.timestamp or None  # faust gives seconds
            for sequence, remittance in enumerate(remittances):
                remittance.sequence = sequence
                remittance.published_at = published_at
                await send_json(topics.remittances, remittance.provider_id, remittance, compact=True)
            for dead in dead_letters:
                await send_json(topics.dead_letters, source_id, dead)
            receipt = Receipt(
                stage="ingested",
                source_id=source_id,
                file=file,
                remittances=len(remittances),
                dead_letters=len(dead_letters),
            )
            await send_json(topics.receipts, source_id, receipt)
            log.info("ingested %s: %d remittances, %d dead letters", source_id, len(remittances), len(dead_letters))

    # ------------------------------------------------------------------ match

    @app.agent(topics.remittances, name="match")
    async def match(stream):
        # Faust's cost is per message and per table write: a batch of remittances costs one header write per
        # provider, however many of its remittances the batch holds (plus each new remittance's facts, once).
        if settings.match_batch_size > 1:
            async for events in stream.take_events(settings.match_batch_size, within=settings.match_batch_wait):
                await match_batch(events)
        else:
            async for event in stream.events():
                await match_batch([event])

    async def match_batch(events) -> None:
        changed: dict[str, ProviderLedger] = {}
        outbox: list[tuple[Any, str, Any]] = []
        receipts: dict[str, Receipt] = {}  # provider -> its last receipt in the batch
        event_of: dict[str, Any] = {}  # provider -> one of its events (the table write needs its partition)
        for event in events:
            provider_id = match_one(event.message, event.value, changed, outbox, receipts)
            if provider_id is not None:
                event_of[provider_id] = event
        for provider_id, ledger in changed.items():
            settle_one(provider_id, ledger, outbox, receipts)
            tb.ledgers.put(ledger, event_of[provider_id])  # facts, then the header that counts them; before any output
        for topic, key, item in outbox:
            await send_json(topic, key, item)

    def settle_one(provider_id: str, ledger: ProviderLedger, outbox: list, receipts: dict[str, Receipt]) -> None:
        """Publish what a batch's out-of-order remittances changed, announced on the provider's last receipt."""
        update = settle(ledger, policy)
        if update is None:
            return
        for takeback in update.takebacks:  # after the batch's earlier revisions, so revisions go out in order
            outbox.append((_takeback_topic(tb, takeback), takeback.provider_id, takeback))
        outbox.append((topics.net_cash, provider_id, update.cash))
        receipt = receipts[provider_id]
        receipt.takeback_revisions.update({t.event_id: t.revision for t in update.takebacks})
        receipt.takeback_events = len(receipt.takeback_revisions)
        receipt.cash_revision = update.cash.revision

    def match_one(
        message, value: bytes, changed: dict[str, ProviderLedger], outbox: list, receipts: dict[str, Receipt]
    ) -> str | None:
        """Apply one remittance event; returns its provider id (None when the event was rejected unread)."""
        where = SourceRef(topic=message.topic, partition=message.partition, offset=message.offset)
        try:
            facts, document = facts_from_json(value)
        except InvalidRemittance as exc:
            reject("invalid_event", f"The remittance event does not match the contract: {exc}.", where, value, outbox)
            return None
        source = document.get("source") or {}
        where.source_id, where.file = source.get("source_id"), source.get("file")
        provider_id = str(document["payee"]["id"])
        receipt = Receipt(
            stage="processed",
            source_id=source.get("source_id") or "",
            file=source.get("file"),
            sequence=document.get("sequence"),
            remittance_id=facts.remittance_id,
            provider_id=provider_id,
        )
        ledger = changed.get(provider_id) or tb.ledgers.get(provider_id)
        try:
            update = apply_remittance(ledger, facts, policy, defer=True)
        except Exception:  # a bug must not stop the stream: dead-letter the remittance, keep going
            # (apply_remittance has rolled the ledger back to before this remittance)
            log.exception("matching failed for remittance %s", facts.remittance_id)
            message_text = "Takeback could not apply this remittance; it was not counted. Report it with this record."
            reject("internal_error", message_text, where, value, outbox, receipt)
            return provider_id
        if update.outcome == "applied":
            changed[provider_id] = ledger
        for takeback in update.takebacks:
            outbox.append((_takeback_topic(tb, takeback), takeback.provider_id, takeback))
        if update.cash is not None:
            outbox.append((topics.net_cash, provider_id, update.cash))
        tb.metrics.remittance(len(facts.claims), document.get("published_at"), update.outcome, update.takebacks)
        receipt.outcome = update.outcome
        receipt.takeback_events = len(update.takebacks)
        receipt.takeback_revisions = {t.event_id: t.revision for t in update.takebacks}
        receipt.cash_revision = update.cash.revision if update.cash else None
        receipts[provider_id] = receipt
        outbox.append((topics.receipts, receipt.source_id, receipt))
        return provider_id

    def reject(
        code: str, text: str, where: SourceRef, value: bytes, outbox: list, receipt: Receipt | None = None
    ) -> None:
        """A remittance event the matching stage cannot apply: dead letter, and a receipt when we know its input."""
        dead = _dead_letter("matching", code, text, where, value)
        outbox.append((topics.dead_letters, where.source_id or "invalid", dead))
        tb.metrics.rejected(dead)
        if receipt is not None:
            receipt.outcome = "dead_letter"
            outbox.append((topics.receipts, receipt.source_id, receipt))

    # ------------------------------------------------------------------ cash

    @app.agent(topics.net_cash, name="cash")
    async def cash(stream):
        async for event in stream.events():
            try:
                row = NetCashRow.model_validate_json(event.value)
            except ValidationError:
                log.warning("skipping a net-cash row that does not match the schema at offset %s", event.message.offset)
                continue
            key = row.provider_id.encode()
            current = tb.net_cash.get(key)
            if current is None or NetCashRow.model_validate_json(current).revision <= row.revision:
                tb.net_cash[key] = event.value
                tb.metrics.cash_row(row)

    # ------------------------------------------------------------------ ops

    @app.timer(interval=5.0)
    async def measure_lag() -> None:
        consumer = app.consumer
        lags: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            read = consumer._read_offset.get(tp)  # faust keeps no public accessor for it
            try:
                highwater = consumer.highwater(tp)
            except Exception:
                continue
            if highwater is not None:
                lags[(tp.topic, tp.partition)] = max(0, highwater - ((read + 1) if read is not None else 0))
        tb.metrics.set_lag(lags)

    @app.on_rebalance_complete.connect
    async def refresh_provider_gauges(sender, **kwargs) -> None:
        """Another worker may own some providers now: show only ours."""
        tb.metrics.forget_providers()
        for raw in tb.net_cash.values():
            tb.metrics.cash_row(NetCashRow.model_validate_json(raw))


def _takeback_topic(tb: TakebackApp, takeback: Takeback):
    return tb.topics.reversals if takeback.kind == TakebackKind.reversal else tb.topics.recoupments


def _chunk_position(chunk: str) -> tuple[int, int]:
    file_offset, header_length = chunk.split(":")
    return int(file_offset), int(header_length)


def _in_file_coordinates(dead: DeadLetter, chunk: str) -> DeadLetter:
    """Byte offsets of a dead letter from a piece of a split file, as offsets in the whole file."""
    file_offset, header_length = _chunk_position(chunk)
    offset = dead.source.byte_offset
    if offset is None or offset < header_length:
        return dead
    source = dead.source.model_copy(update={"byte_offset": offset - header_length + file_offset})
    return dead.model_copy(update={"source": source})


def _oversize_dead_letter(excerpt: bytes, size: int, chunk: str | None, where: SourceRef) -> DeadLetter:
    file_offset, _ = _chunk_position(chunk) if chunk else (0, 0)
    where = where.model_copy(update={"byte_offset": file_offset, "segment_tag": "ST"})
    message = (
        f"The transaction set at byte {file_offset:,} is {size:,} bytes, larger than the limit of one input "
        "(TAKEBACK_MAX_INPUT_BYTES); it was not read. Its first 64 KiB are kept here."
    )
    return _dead_letter("ingest", "input_too_large", message, where, excerpt)


def _read_input(
    data: bytes, file: str | None, source_id: str, where: SourceRef, settings: Settings
) -> tuple[list[Remittance], list[DeadLetter]]:
    """An input is an 835 file, or a Remittance as JSON (spec §1)."""
    if len(data) > settings.max_input_bytes:
        message = f"The input is {len(data):,} bytes; the limit is {settings.max_input_bytes:,} bytes."
        return [], [_dead_letter("ingest", "input_too_large", message, where, data, limit=4096)]
    if data.lstrip()[:1] == b"{":
        try:
            remittance = Remittance.model_validate_json(data)
        except ValidationError as exc:
            message = f"The remittance event does not match the schema ({exc.error_count()} errors)."
            return [], [_dead_letter("ingest", "invalid_event", message, where, data)]
        remittance.source = remittance.source.model_copy(update={"source_id": source_id, "file": file})
        return [remittance], []
    result = read_835(data, file=file, source_id=source_id, include_patient_data=settings.include_patient_data)
    return result.remittances, result.dead_letters
