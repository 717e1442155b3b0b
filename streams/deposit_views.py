"""The HTTP API for deposits (rules §10): positions per provider and payer, and one trace's records.

* ``GET /deposits``: per provider (and payer), money per ERAs against money per bank and the open items by age,
  over every worker's records (each worker answers ``/deposits/local`` with its own; as ``/providers`` does);
  ``?provider_id=`` keeps one provider (``provider_id=`` empty: money no ERA names yet); ``missing_workers``
  counts the workers that did not answer (their records are left out, as the pages warn).
* ``GET /deposits/{trace}``: the records of one EFT trace or check number, from the worker that owns it.

`gather_deposits` is the one place that collects every worker's records: the API and the billing pages use it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError
from faust.web import Request, Response, View

from schemas import Reassociation
from streams.container import TakebackApp
from streams.domain.bank.matcher import PartitionClock, is_internal_key
from streams.domain.bank.position import positions
from streams.domain.bank.reassociation import RouteState
from streams.reassociate_step import is_clock_key
from streams.security import caller_credentials


@dataclass
class GatheredDeposits:
    """Every worker's latest reassociation records, the newest stream time among them, and which provider each
    explaining takebacks belongs to (a payment's ERAs may name several payees: rules §10 split ERAs)."""

    records: list[Reassociation] = field(default_factory=list)
    as_of: dt.date | None = None
    takeback_providers: dict[str, str] = field(default_factory=dict)
    missing_workers: int = 0


def local_deposits(tb: TakebackApp) -> dict[str, Any]:
    """This worker's records as JSON (what /deposits/local answers)."""
    records: list[dict] = []
    owners: dict[str, str] = {}
    as_of: dt.date | None = None
    for key, raw in tb.reassociation.items():
        if is_clock_key(key):
            clock = PartitionClock.model_validate_json(raw).stream_time
            as_of = max(filter(None, (as_of, clock)), default=None)
        if is_internal_key(key):  # a partition's clock, or its index of NACHA entries and returns
            continue
        state = RouteState.model_validate_json(raw)
        records += [record.model_dump(mode="json") for record in state.records.values()]
        for takeback in state.takebacks.values():
            era = state.eras.get(takeback.remittance_id)
            if era is not None:
                owners[takeback.event_id] = era.provider_id
    return {"items": records, "as_of": as_of.isoformat() if as_of else None, "takeback_providers": owners}


async def gather_deposits(tb: TakebackApp, other_urls: Iterable[str], headers: Mapping[str, str]) -> GatheredDeposits:
    """This worker's records and every other worker's (latest revision of each); a worker that does not answer
    is counted in `missing_workers`."""
    bodies = [local_deposits(tb)]
    missing = 0
    for url in other_urls:
        try:
            async with tb.app.http_client.get(f"{url}/deposits/local", headers=dict(headers)) as response:
                if response.status != 200:
                    missing += 1
                    continue
                bodies.append(await response.json())
        except (TimeoutError, OSError, ClientError):
            missing += 1
    gathered = GatheredDeposits(missing_workers=missing)
    latest: dict[str, Reassociation] = {}
    for body in bodies:
        for item in body["items"]:
            record = Reassociation.model_validate(item)
            current = latest.get(record.event_id)
            if current is None or record.revision > current.revision:
                latest[record.event_id] = record
        gathered.takeback_providers.update(body.get("takeback_providers", {}))
    gathered.records = list(latest.values())
    dates = [dt.date.fromisoformat(body["as_of"]) for body in bodies if body["as_of"]]
    gathered.as_of = max(dates, default=None)
    return gathered


def register_deposit_views(tb: TakebackApp, other_workers: Any) -> None:
    app = tb.app

    @app.page("/deposits/local")
    class LocalDeposits(View):
        """This worker's records (what /deposits gathers from each worker)."""

        async def get(self, request: Request) -> Response:
            return self.json(local_deposits(tb))

    @app.page("/deposits")
    class Deposits(View):
        async def get(self, request: Request) -> Response:
            headers = caller_credentials(request)
            gathered = await gather_deposits(tb, other_workers(tb), headers)
            rows = positions(gathered.records, gathered.as_of)
            if "provider_id" in request.query:
                wanted = request.query["provider_id"] or None
                rows = [row for row in rows if row.provider_id == wanted]
            items = [row.model_dump(mode="json") for row in rows]
            return self.json({"items": items, "missing_workers": gathered.missing_workers})

    @app.page("/deposits/{trace}")
    class TraceDeposits(View):
        @app.table_route(table=tb.reassociation, match_info="trace")
        async def get(self, request: Request, trace: str) -> Response:
            raw = tb.reassociation.get(trace.encode())
            if raw is None:
                return self.json({"error": f"no ERA or deposit seen with trace {trace}"}, status=404)
            state = RouteState.model_validate_json(raw)
            return self.json({"items": [r.model_dump(mode="json") for r in state.records.values()]})
