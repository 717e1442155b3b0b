"""The HTTP API for deposits (rules §10): positions per provider and payer, and one trace's records.

* ``GET /deposits``: per provider (and payer), money per ERAs against money per bank and the open items by age,
  over every worker's records (each worker answers ``/deposits/local`` with its own; as ``/providers`` does);
  ``?provider_id=`` keeps one provider (``provider_id=`` empty: money no ERA names yet).
* ``GET /deposits/{trace}``: the records of one EFT trace or check number, from the worker that owns it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from faust.web import Request, Response, View

from schemas import Reassociation
from streams.container import TakebackApp
from streams.domain.bank.matcher import PartitionClock
from streams.domain.bank.position import positions
from streams.domain.bank.reassociation import RouteState
from streams.reassociate_step import CLOCK_KEY


def register_deposit_views(tb: TakebackApp, other_workers: Any) -> None:
    app = tb.app

    def records_here() -> tuple[list[dict], str | None]:
        records: list[dict] = []
        as_of: dt.date | None = None
        for key, raw in tb.reassociation.items():
            if key == CLOCK_KEY:
                clock = PartitionClock.model_validate_json(raw).stream_time
                as_of = max(filter(None, (as_of, clock)), default=None)
                continue
            state = RouteState.model_validate_json(raw)
            records += [record.model_dump(mode="json") for record in state.records.values()]
        return records, as_of.isoformat() if as_of else None

    @app.page("/deposits/local")
    class LocalDeposits(View):
        """This worker's records (what /deposits gathers from each worker)."""

        async def get(self, request: Request) -> Response:
            records, as_of = records_here()
            return self.json({"items": records, "as_of": as_of})

    @app.page("/deposits")
    class Deposits(View):
        async def get(self, request: Request) -> Response:
            mine, as_of = records_here()
            everything = [(mine, as_of)]
            headers = {"Authorization": request.headers["Authorization"]} if "Authorization" in request.headers else {}
            for url in other_workers(tb):
                async with app.http_client.get(f"{url}/deposits/local", headers=headers) as response:
                    if response.status == 200:
                        body = await response.json()
                        everything.append((body["items"], body["as_of"]))
            latest: dict[str, Reassociation] = {}
            for items, _ in everything:
                for item in items:
                    record = Reassociation.model_validate(item)
                    current = latest.get(record.event_id)
                    if current is None or record.revision > current.revision:
                        latest[record.event_id] = record
            dates = [dt.date.fromisoformat(d) for _, d in everything if d]
            rows = positions(latest.values(), max(dates, default=None))
            if "provider_id" in request.query:
                wanted = request.query["provider_id"] or None
                rows = [row for row in rows if row.provider_id == wanted]
            return self.json({"items": [row.model_dump(mode="json") for row in rows]})

    @app.page("/deposits/{trace}")
    class TraceDeposits(View):
        @app.table_route(table=tb.reassociation, match_info="trace")
        async def get(self, request: Request, trace: str) -> Response:
            raw = tb.reassociation.get(trace.encode())
            if raw is None:
                return self.json({"error": f"no ERA or deposit seen with trace {trace}"}, status=404)
            state = RouteState.model_validate_json(raw)
            return self.json({"items": [r.model_dump(mode="json") for r in state.records.values()]})
