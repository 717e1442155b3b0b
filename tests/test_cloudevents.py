"""CloudEvents binary-mode headers: what every published event carries (streams/cloudevents.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from schemas import DeadLetter, NetCashRow, Receipt, Remittance, SourceRef, Takeback
from streams.cloudevents import cloudevent_headers, event_id, event_source
from streams.domain.ids import ledger_key
from streams.inputs import expand_inputs
from streams.runner import feed_and_collect, isolated, running_pipeline
from streams.settings import Settings
from tests.support.builders import a_takeback

WHEN = dt.datetime(2026, 11, 30, 15, 4, 5, 123456, tzinfo=dt.UTC)


def test_a_takeback_carries_every_attribute() -> None:
    headers = dict(cloudevent_headers(a_takeback(), event_source("takeback"), WHEN))
    assert headers == {
        "ce_specversion": b"1.0",
        "ce_id": b"tb-1.1",
        "ce_source": b"/takeback/takeback",
        "ce_type": b"org.takeback.takeback.v1",
        "ce_time": b"2026-11-30T15:04:05.123Z",
        "ce_subject": b"1234567893",
        "content-type": b"application/json",
    }


def test_the_id_is_per_revision_and_repeats_on_redelivery() -> None:
    first = dict(cloudevent_headers(a_takeback(1), "/s"))["ce_id"]
    assert dict(cloudevent_headers(a_takeback(1), "/s"))["ce_id"] == first
    assert dict(cloudevent_headers(a_takeback(2), "/s"))["ce_id"] == b"tb-1.2"


def test_each_event_type_has_its_own_type_and_subject() -> None:
    row = dict(cloudevent_headers(NetCashRow(provider_id="p", revision=7), "/s", WHEN))
    assert (row["ce_type"], row["ce_id"], row["ce_subject"]) == (b"org.takeback.net_cash_row.v1", b"p.7", b"p")
    dead = DeadLetter(dead_letter_id="d1", stage="ingest", error_code="not_x12", message="m", source=SourceRef())
    headers = dict(cloudevent_headers(dead, "/s", WHEN))
    assert (headers["ce_type"], headers["ce_id"]) == (b"org.takeback.dead_letter.v1", b"d1")
    assert "ce_subject" not in headers  # a dead letter names no provider: the attribute is optional
    receipt = Receipt(stage="processed", source_id="run-000001", sequence=2, provider_id="p")
    assert dict(cloudevent_headers(receipt, "/s", WHEN))["ce_id"] == b"run-000001.2.processed"


def test_time_is_utc_rfc3339() -> None:
    local = WHEN.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert dict(cloudevent_headers(a_takeback(), "/s", local))["ce_time"] == b"2026-11-30T15:04:05.123Z"


# --------------------------------------------------------------------------- on the wire


@pytest.mark.broker
def test_every_published_event_carries_the_headers_on_the_wire(broker, corpus: Path, tmp_path: Path) -> None:
    """A replay of the corpus, read back with librdkafka (confluent-kafka), not the client that wrote it."""
    confluent = pytest.importorskip("confluent_kafka")
    live = isolated(Settings(broker=broker.url, session_timeout=2.0)).with_overrides(data_dir=tmp_path)
    with running_pipeline(live, live.broker, tmp_path) as pipeline:
        asyncio.run(feed_and_collect(pipeline, expand_inputs([corpus]), timeout=300, progress=False))
    names = live.topic_names
    models = {
        names.remittances: Remittance,
        names.reversals: Takeback,
        names.recoupments: Takeback,
        names.net_cash: NetCashRow,
        names.dead_letters: DeadLetter,
        names.receipts: Receipt,
    }
    consumer = confluent.Consumer(
        {"bootstrap.servers": live.bootstrap_servers, "group.id": "headers-check", "enable.auto.commit": False}
    )
    try:
        consumer.assign(
            [confluent.TopicPartition(t, p, confluent.OFFSET_BEGINNING) for t in models for p in range(live.partitions)]
        )
        seen: dict[str, int] = {}
        quiet_polls = 0
        while quiet_polls < 10:
            message = consumer.poll(0.5)
            if message is None:
                quiet_polls += 1
                continue
            assert message.error() is None, message.error()
            quiet_polls = 0
            headers = {k: v.decode() for k, v in message.headers() or []}
            event = models[message.topic()].model_validate_json(message.value())  # the payload is the event alone
            assert headers["ce_specversion"] == "1.0"
            assert headers["ce_id"] == event_id(event)
            assert headers["ce_source"] == f"/takeback/{live.application_id}"
            assert headers["ce_type"].startswith("org.takeback.") and headers["ce_type"].endswith(".v1")
            assert dt.datetime.fromisoformat(headers["ce_time"]).tzinfo is not None
            if isinstance(event, Takeback | NetCashRow):
                assert headers["ce_subject"] == message.key().decode()  # the provider, as the key
            if isinstance(event, Remittance):  # the payee; the key is its ledger's (rules §5)
                payee = event.payee
                assert headers["ce_subject"] == payee.id
                assert message.key().decode() == ledger_key(payee.id, payee.tin, payee.id_qualifier)
            assert headers["content-type"] == "application/json"
            seen[message.topic()] = seen.get(message.topic(), 0) + 1
    finally:
        consumer.close()
    assert set(models) - {names.reversals} <= set(seen), seen  # the corpus has recoupments only
