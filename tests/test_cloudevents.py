"""CloudEvents binary-mode headers: what every published event carries (streams/cloudevents.py)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from schemas import DeadLetter, NetCashRow, Receipt, SourceRef, Takeback
from streams.cloudevents import cloudevent_headers, event_source

WHEN = dt.datetime(2026, 11, 30, 15, 4, 5, 123456, tzinfo=dt.UTC)


def takeback(revision: int = 1) -> Takeback:
    return Takeback(
        event_id="tb-1",
        revision=revision,
        kind="recoupment",
        method="offset",
        amount=Decimal("12.34"),
        provider_id="1234567893",
        payee_provider_id="1234567893",
        payer_id="1999999999",
        trace_number="T1",
        remittance_id="r1",
        reason_category="unknown",
    )


def test_a_takeback_carries_every_attribute() -> None:
    headers = dict(cloudevent_headers(takeback(), event_source("takeback"), WHEN))
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
    first = dict(cloudevent_headers(takeback(1), "/s"))["ce_id"]
    assert dict(cloudevent_headers(takeback(1), "/s"))["ce_id"] == first
    assert dict(cloudevent_headers(takeback(2), "/s"))["ce_id"] == b"tb-1.2"


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
    assert dict(cloudevent_headers(takeback(), "/s", local))["ce_time"] == b"2026-11-30T15:04:05.123Z"
