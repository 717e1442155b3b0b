"""The exported JSON Schemas are the contract downstream services code against: keep them current."""

from __future__ import annotations

import json
from decimal import Decimal

from schemas import NetCashRow, Takeback
from schemas.export import SCHEMA_DIR, rendered_schemas


def test_exported_json_schemas_are_current() -> None:
    stale = [
        name
        for name, text in rendered_schemas().items()
        if not (SCHEMA_DIR / name).exists() or (SCHEMA_DIR / name).read_text() != text
    ]
    assert not stale, f"run `python -m schemas.export` and commit: stale {stale}"


def test_money_travels_as_decimal_strings() -> None:
    row = NetCashRow(provider_id="1", net_cash=Decimal("10.10"), recouped=Decimal("0.1") + Decimal("0.2"))
    data = json.loads(row.model_dump_json())
    assert data["net_cash"] == "10.10"
    assert data["recouped"] == "0.3"
    schema = json.loads((SCHEMA_DIR / "takeback.schema.json").read_text())
    assert schema["properties"]["amount"]["type"] == "string"


def test_takeback_round_trips_through_json() -> None:
    takeback = Takeback(
        event_id="e1",
        kind="recoupment",
        method="offset",
        amount=Decimal("12.34"),
        provider_id="p",
        payee_provider_id="p",
        payer_id="x",
        trace_number="t",
        remittance_id="r",
        reason_category="unknown",
    )
    assert Takeback.model_validate_json(takeback.model_dump_json()) == takeback
