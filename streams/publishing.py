"""How the agents publish an event: JSON straight to the producer, with its CloudEvents headers."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from schemas import DeadLetter, Receipt
from streams.cloudevents import cloudevent_headers, event_source
from streams.container import TakebackApp


class IngestedOutcome(Protocol):
    """What reading one input (an ERA or a bank file) produced, as far as publishing its end goes."""

    source_id: str
    dead_letters: list[DeadLetter]

    def receipt(self) -> Receipt: ...


class EventPublisher:
    """Publishes events for one app. One instance per register function; shared by its agents."""

    def __init__(self, tb: TakebackApp) -> None:
        self.app = tb.app
        self.source = event_source(tb.app.conf.id)

    async def send(
        self,
        topic: Any,
        key: str,
        event: BaseModel,
        *,
        value: bytes | None = None,
        extra_headers: list[tuple[str, bytes]] = (),  # type: ignore[assignment]
    ) -> bytes:
        """Publish an event as JSON; returns the payload. `value`: the event's payload encoded already (a
        remittance: `streams.ingest.encode_remittance`, which also checked that it fits one message), or from an
        earlier send, to publish it again without encoding it again. `extra_headers` go after the CloudEvents ones.

        Straight to the producer, not through `topic.send`: faust's per-message bookkeeping there (promises,
        sensors, callbacks) was most of a batch's time (docs/benchmarks.md). Delivery is still guaranteed before
        the input's offset is committed: faust flushes the producer before every commit.
        Every event carries CloudEvents headers (streams/cloudevents.py); the payload is the event alone.
        """
        if value is None:
            value = event.model_dump_json().encode()
        headers = [*cloudevent_headers(event, self.source), *extra_headers]
        await self.app.producer.send(
            topic.get_topic_name(), key.encode(), value, partition=None, timestamp=None, headers=headers
        )
        return value

    async def send_raw(self, topic: Any, key: str, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Publish a payload as it is, with the headers given (a remittance passed on between ledgers)."""
        await self.app.producer.send(
            topic.get_topic_name(), key.encode(), value, partition=None, timestamp=None, headers=headers
        )

    async def send_input_end(self, topics: Any, outcome: IngestedOutcome) -> None:
        """An input's dead letters, then its `ingested` receipt: last, since `replay` counts the input read by it."""
        for dead in outcome.dead_letters:
            await self.send(topics.dead_letters, outcome.source_id, dead)
        await self.send(topics.receipts, outcome.source_id, outcome.receipt())
