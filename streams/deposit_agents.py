"""The deposit agents (rules §10): bank files in, reassociation records out. Short loops over plain classes.

* ``bank-ingest``:  bank.raw (one message per NACHA or BAI2 file) -> deposits on reassociation.in, keyed by trace,
                    + dead letters (decided by streams/bank_ingest.py)
* ``reassociate``:  reassociation.in (ERA facts from ingest, deposits, takebacks from match, clock ticks) ->
                    Reassociation events on deposits.reassociation, with the route states and the partition's clock
                    as table state (decided by streams/reassociate_step.py)

ERA facts and takebacks reach reassociation.in through ``ReassociationSender``, called by the ingest and match
agents: one message per route for what one input or batch produced. Clock ticks go to every partition, so stream
time is the latest date any input has shown, everywhere.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from schemas import Deposit, Reassociation, Receipt, Remittance, SourceRef, Takeback
from streams.bank_ingest import ingest_bank_file
from streams.container import TakebackApp
from streams.dead_letters import dead_letter
from streams.domain.bank.matcher import ReassociationInput
from streams.event_context import as_current_event, event_batches
from streams.publishing import EventPublisher
from streams.reassociate_step import ReassociationBatch

log = logging.getLogger("takeback.deposits")


class ReassociationSender:
    """Puts facts and clock ticks on reassociation.in (internal JSON, no CloudEvents headers)."""

    def __init__(self, tb: TakebackApp) -> None:
        self.tb = tb
        self.topic = tb.topics.reassociation_in.get_topic_name()
        self.last_tick: dt.date | None = None  # stream time only moves forward: an older tick changes nothing

    async def send(self, message: ReassociationInput, partition: int | None = None) -> None:
        value = message.model_dump_json(exclude_defaults=True).encode()
        await self.tb.app.producer.send(
            self.topic, message.key, value, partition=partition, timestamp=None, headers=None
        )

    async def send_facts(self, items: Iterable[Remittance | Deposit | Takeback]) -> None:
        """The items' facts, one message per route: faust's cost on the reassociate side is per message."""
        for message in ReassociationInput.grouped(ReassociationInput.of(item) for item in items):
            if message.to_every_partition:  # NACHA returns: each partition's index finds their credit
                for partition in range(self.tb.settings.partitions):
                    await self.send(message, partition)
            else:
                await self.send(message)

    async def tick(self, date: dt.date | None) -> None:
        """Stream time: the date an input showed, to every partition, when it is later than the last one sent.

        A restarted worker sends its first tick again, which is harmless: each partition keeps the latest date.
        """
        if date is None or (self.last_tick is not None and date <= self.last_tick):
            return
        for partition in range(self.tb.settings.partitions):
            await self.send(ReassociationInput.tick(date), partition)
        self.last_tick = date


def register_deposit_agents(tb: TakebackApp) -> None:
    app, topics, settings = tb.app, tb.topics, tb.settings
    sender = ReassociationSender(tb)

    publisher = EventPublisher(tb)
    send_event = publisher.send

    @app.agent(topics.bank_raw, name="bank-ingest")
    async def bank_ingest(stream):
        async for event in stream.events():
            message = event.message
            result = ingest_bank_file(
                event.value or b"", message.headers, partition=message.partition, offset=message.offset
            )
            tb.metrics.ingested(result.dead_letters, {})
            await sender.send_facts(result.deposits)
            await sender.tick(result.latest_date)
            await publisher.send_input_end(topics, result)
            log.info(result.summary())

    @app.agent(topics.reassociation_in, name="reassociate")
    async def reassociate(stream):
        # a batch reads each route and partition clock once and writes each once
        async for events in event_batches(stream, settings):
            await reassociate_events(events)

    async def reassociate_events(events: list[Any]) -> None:
        event_of = {event.message.partition: event for event in events}  # the table routes by an event's partition

        def read(partition: int, key: bytes) -> bytes | None:
            with as_current_event(event_of[partition]):
                return tb.reassociation.get(key)

        batch = ReassociationBatch(read, settings.deposit_wait_business_days)
        markers: list[tuple[str, int]] = []
        published: list[Reassociation] = []
        for event in events:
            message = event.message
            step = batch.add(event.value or b"", message.partition)
            if step.invalid:
                where = SourceRef(topic=message.topic, partition=message.partition, offset=message.offset)
                dead = dead_letter("matching", "invalid_event", step.invalid, where, event.value)
                await send_event(topics.dead_letters, "invalid", dead)
                continue
            for record in step.records:
                await send_event(topics.reassociations, record.trace_number or record.deposit_id or "", record)
            published += step.records
            if step.marker:
                markers.append((step.marker, message.partition))
        tb.metrics.reassociations(published)
        # after publishing: a crash in between republishes the same revisions
        for partition, writes in batch.writes().items():
            with as_current_event(event_of[partition]):
                for key, value in writes.items():
                    tb.reassociation[key] = value
        if markers:
            # A marker's receipt says that everything before it in its partition is on the broker: a reader that
            # saw it reads the records up to the end the topic has then (kafka_io.collect_reassociations).
            await app.producer.flush()
        for marker, partition in markers:
            await send_event(topics.receipts, marker, Receipt(stage="processed", source_id=marker, sequence=partition))
