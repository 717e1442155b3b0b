"""CloudEvents 1.0 binary-mode headers for the events Takeback publishes (the Kafka protocol binding).

The payload stays the event's JSON; the metadata travels as `ce_*` headers and `content-type`, so a consumer can
route (`ce_type`), dedupe (`ce_id`) and shard (`ce_subject`) without parsing the payload. `ce_id` is the same every
time the same revision of an event is published (redelivery, a re-sent input): consumers may drop repeats by it.
"""

from __future__ import annotations

import datetime as dt

from schemas import (
    EVENT_TYPES,
    EVENT_VERSIONS,
    Action,
    DeadLetter,
    NetCashRow,
    Reassociation,
    Receipt,
    Remittance,
    Takeback,
)
from schemas.events import Event

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PREFIX = "org.takeback."

_NAME_OF: dict[type[Event], str] = {model: name for name, model in EVENT_TYPES.items()}


def event_type(name: str) -> str:
    """`ce_type` of an event type named as in schemas.EVENT_TYPES, e.g. org.takeback.takeback.v1."""
    return f"{TYPE_PREFIX}{name}.v{EVENT_VERSIONS[name]}"


def event_source(app_id: str) -> str:
    """`ce_source`: the Takeback application (its Kafka group id) that produced the event."""
    return f"/takeback/{app_id}"


def event_id(event: Event) -> str:
    """`ce_id`: unique per event revision, and the same on every publication of that revision."""
    if isinstance(event, Takeback):
        return f"{event.event_id}.{event.revision}"
    if isinstance(event, NetCashRow):
        return f"{event.provider_id}.{event.revision}"
    if isinstance(event, Reassociation):
        return f"{event.event_id}.{event.revision}"
    if isinstance(event, DeadLetter):
        return event.dead_letter_id
    if isinstance(event, Remittance):
        return event.remittance_id
    if isinstance(event, Receipt):
        where = "ingested" if event.stage == "ingested" else f"{event.sequence}.processed"
        return f"{event.source_id}.{where}"
    if isinstance(event, Action):
        return event.action_id  # the idempotency key: a repeat of the action has the same id
    raise TypeError(f"{type(event).__name__} is not an event Takeback publishes")


def event_subject(event: Event) -> str | None:
    """`ce_subject`: the provider the event is about (the topic's key, except a remittance's: keyed by its ledger,
    rules §5), when it has one."""
    if isinstance(event, Takeback | NetCashRow):
        return event.provider_id
    if isinstance(event, Remittance):
        return event.payee.id
    if isinstance(event, Receipt | Reassociation | Action):
        return event.provider_id
    return None


def cloudevent_headers(event: Event, source: str, time: dt.datetime | None = None) -> list[tuple[str, bytes]]:
    """The Kafka headers of one published event: ce_specversion, ce_id, ce_source, ce_type, ce_time, ce_subject
    (when the event names a provider) and content-type. `time` defaults to now (when Takeback published it)."""
    moment = (time or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": event_id(event),
        "ce_source": source,
        "ce_type": event_type(_NAME_OF[type(event)]),
        "ce_time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    subject = event_subject(event)
    if subject is not None:
        headers["ce_subject"] = subject
    headers["content-type"] = CONTENT_TYPE
    return [(name, value.encode()) for name, value in headers.items()]
