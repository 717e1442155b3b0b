"""The HTTP API on Faust's web server: the cash table and recent takebacks, deposits (streams/deposit_views.py),
the file feeds POST /eras, /bank-files and GET /inputs/{id} (streams/feeds/http.py), health, metrics, OpenAPI.

Any worker answers for any provider: requests for one provider are routed to
the worker that owns the provider's partition (Faust's table routing); a provider's
takebacks are in its TIN's ledger, which may be on another worker: one more hop
(streams/ledger_routing.py). The provider list gathers every worker's rows.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from typing import Any

from aiohttp import ClientError
from faust.web import Request, Response, View

from schemas import (
    Action,
    ActionTarget,
    DepositPosition,
    NetCashRow,
    ReasonCategory,
    Reassociation,
    Takeback,
    TakebackKind,
    TakebackMethod,
    TakebackStatus,
)
from streams.action_views import acting_person, action_paths, register_action_views
from streams.container import TakebackApp
from streams.deposit_views import register_deposit_views
from streams.domain.deadlines.today import DueView, ForecastLine, due, forecast_lines
from streams.domain.ledger import cash_row, takebacks_of
from streams.feeds.http import register_input_views
from streams.ledger_routing import ledger_key_here, owner_elsewhere
from streams.metrics import CONTENT_TYPE_LATEST
from streams.pages.filters import BadFilter, WorklistFilter, today_of
from streams.pages.queries import TakebackIndex, all_matching
from streams.security import caller_credentials
from streams.settings import match_policy

MAX_PAGE = 500


def register_views(tb: TakebackApp) -> None:
    app = tb.app
    actions = register_action_views(tb, _other_workers)

    def rows_here() -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in tb.net_cash.values()]

    @app.page("/healthz")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            ready = app.tables.recovery.completed.is_set() and not app.rebalancing and tb.access.loaded.is_set()
            return self.json({"ready": ready}, status=200 if ready else 503)

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(tb.metrics.exposition(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/openapi.json")
    class OpenApi(View):
        async def get(self, request: Request) -> Response:
            return self.json(openapi_document())

    @app.page("/providers/local")
    class LocalProviders(View):
        """This worker's rows only (what /providers gathers from each worker)."""

        async def get(self, request: Request) -> Response:
            return self.json({"items": rows_here()})

    @app.page("/providers")
    class Providers(View):
        async def get(self, request: Request) -> Response:
            try:
                limit, offset = _paging(request)
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            rows = {row["provider_id"]: row for row in rows_here()}
            headers = caller_credentials(request)
            for url in _other_workers(tb):
                async with app.http_client.get(f"{url}/providers/local", headers=headers) as response:
                    if response.status == 200:
                        for row in (await response.json())["items"]:
                            rows.setdefault(row["provider_id"], row)
            ordered = [rows[k] for k in sorted(rows)]
            page = ordered[offset : offset + limit]
            return self.json({"total": len(ordered), "limit": limit, "offset": offset, "items": page})

    @app.page("/providers/{provider_id}")
    class Provider(View):
        @app.table_route(table=tb.net_cash, match_info="provider_id")
        async def get(self, request: Request, provider_id: str) -> Response:
            raw = tb.net_cash.get(provider_id.encode())
            if raw is None:
                return self.json({"error": f"no remittances seen for provider {provider_id}"}, status=404)
            return self.json(NetCashRow.model_validate_json(raw).model_dump(mode="json"))

    rules = match_policy(tb.settings).rules

    async def takebacks_answer(view: View, request: Request, ledger_key: str, provider_id: str) -> Response:
        """The provider's takebacks (recovering its claims or netted from its payments), from its ledger here, each
        with what is due as of `today` (rules §11: read-time, never in the events). The pages' work filters apply
        too (assignee, dispute, last_action: one WorklistFilter for both)."""
        kind = request.query.get("kind")
        if kind is not None and kind not in {k.value for k in TakebackKind}:
            return view.json({"error": "kind must be 'reversal' or 'recoupment'"}, status=400)
        try:
            # the worklist page's filters, read and applied by the same code (streams/pages/filters.py, queries.py)
            wanted = WorklistFilter.parse(request.query)
            since = dt.date.fromisoformat(request.query["since"]) if "since" in request.query else None
            limit, offset = _paging(request)
            event_id = request.query.get("event_id") or None  # one takeback (the actions API checks it exists)
            today = today_of(request.query)
        except BadFilter as exc:
            return view.json({"error": f"{exc.field}: {exc.why}"}, status=400)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        if since is not None:  # the API's older name of `from`
            wanted = replace(wanted, date_from=max(since, wanted.date_from or since))
        if tb.ledgers.table.get(ledger_key.encode()) is None:
            return view.json({"error": f"no remittances seen for provider {provider_id}"}, status=404)
        takebacks = takebacks_of(tb.ledgers.get(ledger_key), provider_id)
        if event_id is not None:
            takebacks = {event_id: takebacks[event_id]} if event_id in takebacks else {}
        work = {}
        if wanted.filters_work:  # rules §12: the work states live with the actions, gathered from every worker
            gathered = await actions.gather(provider_id, caller_credentials(request))
            work = {s.target_id: s for s in gathered.states.values() if s.target_kind == ActionTarget.takeback}
        me = acting_person(request)
        items = all_matching(takebacks, TakebackIndex.build(takebacks), wanted, work, me, today)
        page = [
            {**t.model_dump(mode="json"), "due": due(t, today, rules).model_dump(mode="json")}
            for t in items[offset : offset + limit]
        ]
        return view.json({"total": len(items), "limit": limit, "offset": offset, "today": str(today), "items": page})

    async def forecast_answer(view: View, request: Request, ledger_key: str, provider_id: str) -> Response:
        """Rules §13: the offsets expected from the provider's payments in the next 7, 30 and 60 days, per payer."""
        try:
            today = _today(request)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)
        if tb.ledgers.table.get(ledger_key.encode()) is None:
            return view.json({"error": f"no remittances seen for provider {provider_id}"}, status=404)
        ledger = tb.ledgers.get(ledger_key)
        takebacks = [t for t in takebacks_of(ledger, provider_id).values() if t.payee_provider_id == provider_id]
        lines = forecast_lines(takebacks, today, rules, cash_row(ledger, provider_id))
        return view.json({"today": str(today), "items": [line.model_dump(mode="json") for line in lines]})

    async def routed(view: View, request: Request, provider_id: str, what: str, answer: Any) -> Response:
        """Answered by the worker holding the provider's ledger: here, or one hop away (streams/ledger_routing.py)."""
        ledger_key = ledger_key_here(tb, provider_id)
        if ledger_key is None:
            return view.json({"error": f"no remittances seen for provider {provider_id}"}, status=404)
        try:
            owner = owner_elsewhere(tb, tb.ledgers.table, ledger_key)
        except KeyError:
            return view.json({"error": "the workers are sharing out the providers; try again"}, status=503)
        if owner is None:
            return await answer(view, request, ledger_key, provider_id)
        url = f"{owner}/ledgers/{ledger_key}/providers/{provider_id}/{what}"
        headers = caller_credentials(request)
        try:
            async with app.http_client.get(url, params=request.query, headers=headers) as reply:
                return view.json(await reply.json(), status=reply.status)
        except (TimeoutError, OSError, ClientError, ValueError):
            return view.json({"error": "the worker holding the provider's ledger did not answer"}, status=503)

    def two_hop(what: str, answer: Any) -> None:
        """/providers/{id}/<what>, answered where the provider's row is, which names its ledger, and its second
        hop /ledgers/{key}/providers/{id}/<what>, answered by the worker holding that ledger (ledger_routing.py)."""

        @app.page(f"/providers/{{provider_id}}/{what}")
        class ByProvider(View):
            @app.table_route(table=tb.net_cash, match_info="provider_id")
            async def get(self, request: Request, provider_id: str) -> Response:
                return await routed(self, request, provider_id, what, answer)

        @app.page(f"/ledgers/{{ledger_key}}/providers/{{provider_id}}/{what}")
        class ByLedger(View):
            @app.table_route(table=tb.ledgers.table, match_info="ledger_key")
            async def get(self, request: Request, ledger_key: str, provider_id: str) -> Response:
                return await answer(self, request, ledger_key, provider_id)

    two_hop("takebacks", takebacks_answer)
    two_hop("forecast", forecast_answer)

    register_deposit_views(tb, _other_workers)
    register_input_views(tb)


def _paging(request: Request) -> tuple[int, int]:
    try:
        limit = int(request.query.get("limit", 100))
        offset = int(request.query.get("offset", 0))
    except ValueError:
        raise ValueError("limit and offset must be whole numbers") from None
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise ValueError(f"limit must be 1..{MAX_PAGE} and offset >= 0")
    return limit, offset


def _today(request: Request) -> dt.date:
    try:
        return today_of(request.query)
    except BadFilter as exc:
        raise ValueError(f"{exc.field}: {exc.why}") from None


def _other_workers(tb: TakebackApp) -> list[str]:
    me = str(tb.app.conf.canonical_url).rstrip("/")
    hosts = {str(url).rstrip("/") for url in tb.app.router.tables_metadata()}
    return sorted(h for h in hosts if h != me)


ACCEPTED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "input_id": {"type": "string"},
        "status": {"const": "pending"},
        "location": {"type": "string", "description": "GET it for the input's status"},
    },
    "required": ["input_id", "status", "location"],
}
INPUT_STATUS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "input_id": {"type": "string"},
        "status": {
            "enum": ["pending", "ingested", "dead_lettered"],
            "description": "pending: not read yet; ingested: read, its remittances on their way; dead_lettered: "
            "read, and some or all of it rejected (see dead_letters; remittances says how many went on)",
        },
        "file": {"type": ["string", "null"]},
        "pieces": {"type": "integer", "description": "messages the file was published as (cut by size and payee)"},
        "pieces_ingested": {"type": "integer"},
        "remittances": {"type": "integer"},
        "dead_letters": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "dead_letter_id": {"type": "string"},
                    "stage": {"type": "string"},
                    "error_code": {"type": "string"},
                    "message": {"type": "string"},
                    "byte_offset": {"type": ["integer", "null"]},
                },
            },
        },
    },
    "required": ["input_id", "status", "pieces", "pieces_ingested", "remittances", "dead_letters"],
}


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 description of the API; schemas are the exported event contracts."""

    def ref(name: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{name}"}

    def page_of(name: str) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
                "items": {"type": "array", "items": ref(name)},
            },
        }

    paging = [
        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}},
        {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
    ]
    provider = {"name": "provider_id", "in": "path", "required": True, "schema": {"type": "string"}}
    worklist_filters = [
        {"name": "status", "in": "query", "schema": {"enum": [v.value for v in TakebackStatus]}},
        {"name": "method", "in": "query", "schema": {"enum": [v.value for v in TakebackMethod]}},
        {"name": "category", "in": "query", "schema": {"enum": [v.value for v in ReasonCategory]}},
        {"name": "payer", "in": "query", "schema": {"type": "string"}},
        {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
        {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
    ]
    today = {
        "name": "today",
        "in": "query",
        "description": "the day deadlines count to (default: the server's UTC date)",
        "schema": {"type": "string", "format": "date"},
    }
    error = {"description": "error", "content": {"application/json": {"schema": {"type": "object"}}}}

    def array_of(name: str) -> dict[str, Any]:
        return {"type": "array", "items": ref(name)}

    def ok(schema: dict[str, Any]) -> dict[str, Any]:
        return {"description": "OK", "content": {"application/json": {"schema": schema}}}

    def file_feed(what: str, other: str) -> dict[str, Any]:
        return {
            "summary": f"{what} in; published as `takeback publish` does, once per Idempotency-Key or content",
            "description": (
                "The body is the file. Without an Idempotency-Key the body's SHA-256 is the key: a retried request "
                f"publishes once. A file of the other kind is a 400 (post it to {other}). Poll the Location."
            ),
            "parameters": [
                {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 200}},
                {
                    "name": "name",
                    "in": "query",
                    "description": "the file name dead letters show",
                    "schema": {"type": "string"},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            },
            "responses": {
                "202": {
                    "description": "Accepted: published (or published before under this key)",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                    "content": {"application/json": {"schema": ACCEPTED_SCHEMA}},
                },
                "400": error,
                "401": error,
                "409": error,
                "413": {
                    "description": "The body is larger than TAKEBACK_FEED_MAX_BYTES; it was not read",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
            },
        }

    components = {
        "NetCashRow": NetCashRow.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}"),
        "Takeback": Takeback.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}"),
        "DepositPosition": DepositPosition.model_json_schema(
            mode="serialization", ref_template="#/components/schemas/{model}"
        ),
        "Reassociation": Reassociation.model_json_schema(
            mode="serialization", ref_template="#/components/schemas/{model}"
        ),
        "Action": Action.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}"),
    }
    template = "#/components/schemas/{model}"
    components["DueView"] = DueView.model_json_schema(mode="serialization", ref_template=template)
    components["ForecastLine"] = ForecastLine.model_json_schema(mode="serialization", ref_template=template)
    components["TakebackDue"] = {
        "allOf": [ref("Takeback"), {"type": "object", "properties": {"due": ref("DueView")}, "required": ["due"]}]
    }
    for schema in list(components.values()):
        components.update(schema.pop("$defs", {}))
    return {
        "openapi": "3.1.0",
        "info": {"title": "Takeback API", "version": "1"},
        "paths": {
            "/providers": {
                "get": {
                    "summary": "The net cash table, paged",
                    "parameters": paging,
                    "responses": {"200": ok(page_of("NetCashRow")), "400": error},
                }
            },
            "/providers/{provider_id}": {
                "get": {
                    "summary": "One provider's row with per-payer breakdown",
                    "parameters": [provider],
                    "responses": {"200": ok(ref("NetCashRow")), "404": error},
                }
            },
            "/providers/{provider_id}/takebacks": {
                "get": {
                    "summary": "Recent takebacks of a provider, newest first",
                    "description": (
                        "Each item is the takeback with `due`: its clocks as of `today` (rules §11), computed when "
                        "asked, never stored. The filters are the worklist page's, read and applied by the same code."
                    ),
                    "parameters": [
                        provider,
                        {"name": "kind", "in": "query", "schema": {"enum": ["reversal", "recoupment"]}},
                        {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"}},
                        *worklist_filters,
                        today,
                        {
                            "name": "due_within",
                            "in": "query",
                            "description": "only takebacks whose next deadline is within this many days",
                            "schema": {"type": "integer", "minimum": 0},
                        },
                        {
                            "name": "overdue",
                            "in": "query",
                            "description": "only takebacks whose act_by has passed",
                            "schema": {"type": "boolean"},
                        },
                        {
                            "name": "beyond_lookback",
                            "in": "query",
                            "description": "only recoupments flagged beyond_lookback_limit",
                            "schema": {"type": "boolean"},
                        },
                        {"name": "sort", "in": "query", "schema": {"enum": ["date", "act_by"]}},
                        {
                            "name": "event_id",
                            "in": "query",
                            "description": "one takeback",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "assignee",
                            "in": "query",
                            "description": "rules §12: a name, 'mine' (the caller) or 'nobody'",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "dispute",
                            "in": "query",
                            "schema": {"enum": ["none", "disputed", "appealed", "accepted"]},
                        },
                        {
                            "name": "last_action",
                            "in": "query",
                            "description": "an action kind, or 'none': nobody has acted on it",
                            "schema": {"type": "string"},
                        },
                        *paging,
                    ],
                    "responses": {"200": ok(page_of("TakebackDue")), "400": error, "404": error},
                }
            },
            "/providers/{provider_id}/forecast": {
                "get": {
                    "summary": "Offsets expected from the provider's payments in 7, 30 and 60 days, per payer (§13)",
                    "parameters": [provider, today],
                    "responses": {
                        "200": ok(
                            {
                                "type": "object",
                                "properties": {
                                    "today": {"type": "string", "format": "date"},
                                    "items": array_of("ForecastLine"),
                                },
                            }
                        ),
                        "400": error,
                        "404": error,
                    },
                }
            },
            "/deposits": {
                "get": {
                    "summary": "Per provider and payer: money per ERAs against money per bank, open items by age",
                    "parameters": [{"name": "provider_id", "in": "query", "schema": {"type": "string"}}],
                    "responses": {
                        "200": ok(
                            {
                                "type": "object",
                                "properties": {
                                    "items": array_of("DepositPosition"),
                                    "missing_workers": {
                                        "type": "integer",
                                        "description": "Workers that did not answer: their records are missing.",
                                    },
                                },
                            }
                        )
                    },
                }
            },
            "/deposits/{trace}": {
                "get": {
                    "summary": "The reassociation records of one EFT trace or check number",
                    "parameters": [{"name": "trace", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {
                        "200": ok({"type": "object", "properties": {"items": array_of("Reassociation")}}),
                        "404": error,
                    },
                }
            },
            "/eras": {"post": file_feed("An 835 file (raw X12)", "/bank-files")},
            "/bank-files": {"post": file_feed("A bank deposit file (NACHA or BAI2)", "/eras")},
            "/inputs/{input_id}": {
                "get": {
                    "summary": "What became of a posted (or watched) input: pending, ingested or dead_lettered",
                    "parameters": [{"name": "input_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                    "responses": {"200": ok(INPUT_STATUS_SCHEMA), "401": error, "404": error},
                }
            },
            **action_paths(ref, ok, error),
            "/healthz": {"get": {"summary": "The process is up", "responses": {"200": ok({"type": "object"})}}},
            "/readyz": {
                "get": {
                    "summary": "Tables recovered and partitions assigned",
                    "responses": {"200": ok({"type": "object"}), "503": error},
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (with the bearer token when one is set, like the rest)",
                    "responses": {"200": {"description": "text"}, "401": error},
                }
            },
        },
        "components": {"schemas": components},
    }
