"""The billing office's pages and exports, on Faust's web server beside the JSON API.

Any worker answers for any provider: a request for one provider is served by the worker that owns the provider's
ledger, forwarded there (and its answer streamed back) when this worker does not own it: first to the worker that
holds the provider's cash row, which names its ledger (the NPIs of one TIN share one), then to the ledger's worker;
two hops at most (streams/ledger_routing.py). Faust's own
`table_route` forwards too, but returns the answer as text, which would break an XLSX download. The overview
gathers every worker's lines, as /providers does.

Every failure is a page that says what is wrong: 404 for an unknown provider or takeback, 400 for a filter value
the pages cannot read, 503 while partitions are being assigned, 500 (logged without data) for a bug.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import re
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import ClientError, web
from faust.web import Request, View

from schemas import ActionKind, ActionTarget, NetCashRow, ReasonCategory, TakebackKind, TakebackMethod, TakebackStatus
from streams.action_input import ActionInvalid, build_action, new_action_id
from streams.action_views import acting_person
from streams.actions import ActionService, GatheredWork
from streams.container import TakebackApp
from streams.deposit_views import GatheredDeposits, gather_deposits
from streams.domain.bank.position import feed_connected
from streams.domain.deadlines.rule_tables import RuleBook, shipped_rule_book
from streams.domain.deadlines.takebacks import kind_found
from streams.domain.deadlines.today import ForecastLine, due
from streams.domain.ledger import cash_row, remittances_of, takebacks_of
from streams.domain.work_state import DisputeState, WorkState
from streams.ledger_routing import LEDGER_HEADER, ledger_key_here, owner_elsewhere
from streams.pages import deposits, figures, tables
from streams.pages.access_views import register_access_pages
from streams.pages.exports import Sheet, csv_chunks, write_xlsx
from streams.pages.filters import (
    DUE_WITHIN_CHOICES,
    MINE,
    NOBODY,
    OVERVIEW_SORTS,
    UNTOUCHED,
    WORKLIST_SORTS,
    BadFilter,
    OverviewQuery,
    Paging,
    WorklistFilter,
    date_range,
    today_of,
)
from streams.pages.names import NO_NAMES, Names
from streams.pages.queries import (
    IndexCache,
    OverviewLine,
    ProviderData,
    TakebackIndex,
    all_matching,
    as_of_date,
    coming,
    overview,
    overview_line,
    payments,
    reconciliation,
    worklist,
)
from streams.pages.rebate import rebate_case
from streams.pages.render import environment
from streams.pages.statement import SUMMARY, build_statement, statement_csv, statement_sheets
from streams.security import CSRF_FIELD, caller_credentials, require_role
from streams.settings import match_policy
from streams.web import _other_workers

log = logging.getLogger(__name__)

# A forwarded request says which hop it is on, and is answered where its last hop lands: no ping-pong in a rebalance.
ROUTED_HEADER = "X-Takeback-Routed"
ROW_HOP = "row"  # at the worker holding the provider's cash row, which names its ledger
LEDGER_HOP = "ledger"  # at the worker holding the provider's ledger (LEDGER_HEADER says which)
FORWARDED_HEADERS = ("Authorization", "Cookie", "Accept", "Content-Type", "HX-Request", "X-CSRF-Token")
STATIC_FILES = {
    "takeback.css": "text/css",
    "htmx.min.js": "text/javascript",
    "takeback.js": "text/javascript",
    "htmx.LICENSE": "text/plain",
}
PAYMENTS_ON_PAGE = 50


class NotFound(LookupError):
    """An unknown provider or takeback: the message says which."""


class NotReady(RuntimeError):
    """Partitions are being assigned: nobody owns the provider right now."""


@dataclass
class Loaded:
    data: ProviderData
    index: TakebackIndex
    names: Names = NO_NAMES


class Pages:
    """The pages' state on one worker: templates, the takeback-order cache, and how to reach the data."""

    def __init__(self, tb: TakebackApp) -> None:
        self.tb = tb
        self.env = environment()
        self.indexes = IndexCache()
        self.actions = ActionService(tb, _other_workers)
        self.rules = match_policy(tb.settings).rules  # the deadline tables and the operator's files (rules §11)
        self.names: dict[str, tuple[object, Names]] = {}  # ledger key -> (its version, its names)
        self.static = {
            name: (resources.files("streams.pages").joinpath("static", name).read_bytes(), kind)
            for name, kind in STATIC_FILES.items()
        }

    # ---------------------------------------------------------------- data

    def load(self, request: web.Request, provider_id: str) -> Loaded:
        """The provider's part of its ledger: the ledger named by the forwarding worker, else by the row here."""
        ledger_key = request.headers.get(LEDGER_HEADER) or ledger_key_here(self.tb, provider_id) or provider_id
        header = self.tb.ledgers.table.get(ledger_key.encode())
        if header is None:
            raise NotFound(f"No remittances have been seen for provider {provider_id}.")
        ledger = self.tb.ledgers.get(ledger_key)
        remittances = remittances_of(ledger, provider_id)
        takebacks = takebacks_of(ledger, provider_id)
        if not remittances and not takebacks:
            raise NotFound(f"No remittances have been seen for provider {provider_id}.")
        raw_row = self.tb.net_cash.get(provider_id.encode())
        if raw_row is not None:
            row: NetCashRow | None = NetCashRow.model_validate_json(raw_row)
        else:  # the row is on another worker: the ledger's share is the row, unless the NPI has several
            # (docs/known-problems.md)
            row = cash_row(ledger, provider_id) if remittances else None
        data = ProviderData(provider_id, row, takebacks, remittances)
        # the stored header changes whenever the ledger does; bytes cache their hash
        version = (len(header), hash(header))
        index = self.indexes.get(provider_id, version, takebacks)
        return Loaded(data, index, self.names_of(ledger_key, version))

    def names_of(self, ledger_key: str, version: object) -> Names:
        """The names in a ledger's remittances (its payees are the NPIs of one TIN), read once per ledger version."""
        found = self.names.get(ledger_key)
        if found is None or found[0] != version:
            ledger = self.tb.ledgers.get(ledger_key)
            found = (version, Names.of(ledger.remittances.values(), ledger.emitted.values()))
            self.names[ledger_key] = found
        return found[1]

    def local_lines(self, today: dt.date) -> list[OverviewLine]:
        """A line per provider row held here; its takeback counts when its ledger is here too
        (docs/known-problems.md)."""
        lines = []
        for _, raw in list(self.tb.net_cash.items()):
            row = NetCashRow.model_validate_json(raw)
            ledger_key = row.ledger_key or row.provider_id
            header = self.tb.ledgers.table.get(ledger_key.encode())
            index, name, ahead = None, None, None
            if header is not None:
                version = (len(header), hash(header))
                takebacks = takebacks_of(self.tb.ledgers.get(ledger_key), row.provider_id)
                index = self.indexes.get(row.provider_id, version, takebacks)
                name = self.names_of(ledger_key, version).provider_name(row.provider_id)
                make = functools.partial(coming, takebacks, row.provider_id, today, self.rules, row)
                ahead, _ = index.remember(("coming", today, row.revision), make)
            lines.append(overview_line(row, index, name, ahead))
        return lines

    async def all_lines(self, request: web.Request, today: dt.date) -> tuple[list[OverviewLine], int]:
        """Every worker's lines, and how many workers did not answer; deadlines counted to `today` on every one."""
        lines = {line.provider_id: line for line in self.local_lines(today)}
        headers = caller_credentials(request)
        missing = 0
        for url in _other_workers(self.tb):
            try:
                local = f"{url}/pages/providers/local?today={today.isoformat()}"
                async with self.tb.app.http_client.get(local, headers=headers) as response:
                    if response.status != 200:
                        missing += 1
                        continue
                    for item in (await response.json())["items"]:
                        line = OverviewLine.from_json(item)
                        lines.setdefault(line.provider_id, line)
            except (TimeoutError, OSError, ClientError):
                missing += 1
        return list(lines.values()), missing

    async def all_deposits(self, request: web.Request) -> GatheredDeposits:
        """Every worker's reassociation records (they are kept by trace, not by provider)."""
        return await gather_deposits(self.tb, _other_workers(self.tb), caller_credentials(request))

    # ---------------------------------------------------------------- routing

    async def on_owner(self, request: web.Request, provider_id: str) -> web.StreamResponse | None:
        """The answer of the worker holding the provider's ledger when it is another one; None when this one should
        answer. Two hops at most: to the worker holding the provider's cash row (it names the ledger), then to the
        ledger's worker."""
        hop = request.headers.get(ROUTED_HEADER)
        if hop not in (None, ROW_HOP):
            return None
        tb = self.tb
        try:
            if hop is None:
                row_owner = owner_elsewhere(tb, tb.net_cash, provider_id)
                if row_owner is not None:
                    return await self.forward(request, row_owner, {ROUTED_HEADER: ROW_HOP})
            ledger_key = ledger_key_here(tb, provider_id)
            if ledger_key is None:  # no row: the page says the provider is unknown
                return None
            ledger_owner = owner_elsewhere(tb, tb.ledgers.table, ledger_key)
        except KeyError:
            raise NotReady("The workers are sharing out the providers right now; try again in a few seconds.") from None
        if ledger_owner is None:
            return None
        return await self.forward(request, ledger_owner, {ROUTED_HEADER: LEDGER_HOP, LEDGER_HEADER: ledger_key})

    async def forward(self, request: web.Request, owner: str, hop: dict[str, str]) -> web.StreamResponse:
        """The same request, answered by another worker, its answer streamed back."""
        headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers} | hop
        url = f"{owner}{request.path_qs}"
        body = await request.read() if request.method == "POST" else None  # an action form goes to the owner too
        async with self.tb.app.http_client.request(
            request.method, url, data=body, headers=headers, allow_redirects=False
        ) as answer:
            keep = ("Content-Type", "Content-Disposition", "Location")
            out = web.StreamResponse(
                status=answer.status, headers={h: answer.headers[h] for h in keep if h in answer.headers}
            )
            await out.prepare(request)
            async for chunk in answer.content.iter_chunked(64 * 1024):
                await out.write(chunk)
            await out.write_eof()
            return out

    # ---------------------------------------------------------------- rendering

    def page(self, template: str, status: int = 200, **context: Any) -> web.Response:
        html = self.env.get_template(template).render(
            include_patient_data=self.tb.settings.include_patient_data, **context
        )
        return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")

    def error(self, status: int, title: str, message: str) -> web.Response:
        return self.page("error.html", status=status, title=title, message=message)

    # ---------------------------------------------------------------- pages

    async def overview_page(self, request: web.Request) -> web.StreamResponse:
        query = OverviewQuery.parse(request.query)
        paging = Paging.parse(request.query)
        today = today_of(request.query)
        lines, missing = await self.all_lines(request, today)
        work = await self.actions.gather(credentials=caller_credentials(request))
        lines = with_untouched(lines, work)
        found = overview(lines, query)
        page = _page(found, paging)
        gathered = await self.all_deposits(request)
        names = overview_names(lines)
        return self.page(
            "overview.html",
            query=query,
            page=page,
            names=names,
            columns=tables.named(tables.PROVIDERS, names),
            today=today,
            charts=[figures.taken_per_provider(lines, names), figures.offsets_per_provider(lines, names, today)],
            sort_keys=[_sort_key(c.header) for c in tables.PROVIDERS],
            missing_workers=max(missing, gathered.missing_workers),
            no_era=deposits.no_era_summary(gathered.records),
            no_era_columns=tables.NO_ERA_SUMMARY,
        )

    async def no_era_page(self, request: web.Request) -> web.StreamResponse:
        paging = Paging.parse(request.query)
        gathered = await self.all_deposits(request)
        lines = deposits.deposit_lines(deposits.without_provider(gathered.records), gathered.takeback_providers)
        return self.page(
            "no_era.html",
            page=_page(lines, paging),
            summary=deposits.no_era_summary(gathered.records),
            summary_columns=tables.NO_ERA_SUMMARY,
            as_of=gathered.as_of,
            missing_workers=gathered.missing_workers,
        )

    async def no_era_export(self, request: web.Request, fmt: str) -> web.StreamResponse:
        gathered = await self.all_deposits(request)
        lines = deposits.deposit_lines(deposits.without_provider(gathered.records), gathered.takeback_providers)
        sheet = Sheet("Deposits with no ERA", tables.named(tables.DEPOSITS, NO_NAMES, export=True), lines)
        return await self.download(request, fmt, "deposits-no-era", [sheet])

    async def provider_page(self, request: web.Request, provider_id: str) -> web.StreamResponse:
        wanted = WorklistFilter.parse(request.query)
        paging = Paging.parse(request.query)
        deposit_filter = deposits.DepositFilter.parse(request.query)
        deposit_paging = deposits.deposit_paging(request.query)
        loaded = self.load(request, provider_id)
        if loaded.data.row is None:
            raise NotFound(f"Provider {provider_id} has no cash row yet; try again in a moment.")
        gathered = await self.all_deposits(request)
        work = await self.actions.gather(provider_id, caller_credentials(request))
        return self.page(
            "provider.html",
            **provider_context(
                loaded, wanted, paging, takeback_work(work), acting_person(request), today_of(request.query), self.rules
            ),
            missing_work_workers=work.missing_workers,
            **deposit_context(provider_id, gathered, deposit_filter, deposit_paging, loaded.names),
        )

    async def takeback_page(
        self,
        request: web.Request,
        provider_id: str,
        event_id: str,
        *,
        errors: dict[str, str] | None = None,
        form: Any = None,
        status: int = 200,
    ) -> web.StreamResponse:
        loaded = self.load(request, provider_id)
        data = loaded.data
        takeback = data.takebacks.get(event_id)
        if takeback is None:
            raise NotFound(f"Provider {provider_id} has no takeback {event_id}.")
        revisions = sorted(
            (r for r in data.remittances if event_id in r.published),
            key=lambda r: r.order_key(),
        )
        state = await self.actions.state(f"{ActionTarget.takeback}:{event_id}", caller_credentials(request))
        today = today_of(request.query)  # deadlines are calendar time (streams/pages/filters.py today_of)
        view = due(takeback, today, self.rules, state.letter_date if state else None)  # rules §11, §12
        return self.page(
            "takeback.html",
            status=status,
            t=takeback,
            revisions=revisions,
            work=state,
            day_one=state.day_one(takeback.takeback_date) if state and takeback.takeback_date else takeback.day_one,
            deadline=view.next_deadline,
            due=view,
            payer_kind=kind_found(takeback, self.rules),
            today=today,
            names=loaded.names,
            rebate=rebate_case(takeback, data.takebacks),
            me=acting_person(request),
            errors=errors or {},
            form=form or {},
            action_kinds=[k.value for k in ActionKind],
            new_action_id=new_action_id,
        )

    async def act_on_takeback(self, request: web.Request, provider_id: str, event_id: str) -> web.StreamResponse:
        """A form on the takeback page: the action, applied, then the page again (htmx swaps the work section)."""
        require_role(request, "biller")  # a viewer reads; a forged POST of theirs ends here with 403
        data = self.load(request, provider_id).data
        if event_id not in data.takebacks:
            raise NotFound(f"Provider {provider_id} has no takeback {event_id}.")
        form = await request.post()
        what = {k: str(v) for k, v in form.items() if k not in FORM_FIELDS_NOT_ACTION}
        try:
            action = build_action(
                target_kind=ActionTarget.takeback,
                target_id=event_id,
                provider_id=provider_id,
                actor=acting_person(request),
                action_id=str(form.get("action_id", "")),
                what=what,
            )
        except ActionInvalid as exc:
            # htmx swaps only a 2xx answer: the errors come as 200 to it, 422 to a plain form post
            status = 200 if request.headers.get("HX-Request") else 422
            return await self.takeback_page(request, provider_id, event_id, errors=exc.errors, form=what, status=status)
        await self.actions.publish([action])
        await self.actions.wait_applied([action], credentials=caller_credentials(request))
        raise web.HTTPSeeOther(f"/providers/{_quote(provider_id)}/takebacks/{_quote(event_id)}#work")

    async def bulk_act(self, request: web.Request, provider_id: str) -> web.StreamResponse:
        """The worklist's bulk actions (assign, acknowledge) on the selected takebacks, then the worklist again."""
        require_role(request, "biller")
        form = await request.post()
        targets = [str(v) for v in form.getall("target", [])]
        kind = str(form.get("kind", ""))
        bulk_id = str(form.get("action_id", "")) or new_action_id()
        back = f"/providers/{_quote(provider_id)}/view"
        query = {k: str(v) for k, v in form.items() if k.startswith("f_") and v}
        if query:
            back += "?" + "&".join(f"{k[2:]}={_quote(v)}" for k, v in query.items())
        if kind not in BULK_KINDS or not targets:
            raise web.HTTPSeeOther(back)
        what = {"kind": kind, **({"assignee": str(form.get("assignee", ""))} if kind == ActionKind.assign else {})}
        try:
            actions = [
                build_action(
                    target_kind=ActionTarget.takeback,
                    target_id=target,
                    provider_id=provider_id,
                    actor=acting_person(request),
                    action_id=f"{bulk_id}.{target}"[:100],  # one form, one id per row: a repeat acts once
                    what=what,
                )
                for target in targets
            ]
        except ActionInvalid as exc:
            message = "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in exc.errors.items())
            raise BadFilter("bulk action", message) from None
        await self.actions.publish(actions)
        await self.actions.wait_applied(actions, credentials=caller_credentials(request))
        raise web.HTTPSeeOther(back)

    def rebate_page(self, request: web.Request, provider_id: str, event_id: str) -> web.StreamResponse:
        """Rules §13: the printable rebate request of a takeback that recovered more than the claim owed."""
        loaded = self.load(request, provider_id)
        takeback = loaded.data.takebacks.get(event_id)
        if takeback is None:
            raise NotFound(f"Provider {provider_id} has no takeback {event_id}.")
        case = rebate_case(takeback, loaded.data.takebacks)
        if case is None:
            raise NotFound("This takeback did not recover more than the claim owed: there is no rebate to ask for.")
        today = today_of(request.query)
        return self.page("rebate.html", case=case, provider_id=provider_id, names=loaded.names, today=today)

    async def statement_page(self, request: web.Request, provider_id: str) -> web.StreamResponse:
        start, end = date_range(request.query)
        data = self.load(request, provider_id).data
        gathered = await self.all_deposits(request)
        statement = build_statement(
            data, start, end, gathered.records, gathered.takeback_providers, today_of(request.query), self.rules
        )
        return self.page(
            "statement.html",
            provider_id=provider_id,
            statement=statement,
            names=statement.names,
            summary_columns=SUMMARY,
            takeback_columns=tables.named(
                tables.printed_takeback_columns(self.tb.settings.include_patient_data), statement.names
            ),
            age_columns=tables.named(tables.OPEN_BALANCES, statement.names),
            payment_columns=tables.named(tables.PAYMENTS, statement.names),
            deposit_columns=tables.named(tables.printed_deposit_columns(), statement.names),
        )

    # ---------------------------------------------------------------- exports

    async def providers_export(self, request: web.Request, fmt: str) -> web.StreamResponse:
        query = OverviewQuery.parse(request.query)
        lines, _ = await self.all_lines(request, today_of(request.query))
        lines = with_untouched(lines, await self.actions.gather(credentials=caller_credentials(request)))
        columns = tables.named(tables.PROVIDERS, overview_names(lines), export=True)
        return await self.download(request, fmt, "providers", [Sheet("Providers", columns, overview(lines, query))])

    async def provider_export(self, request: web.Request, provider_id: str, table: str, fmt: str) -> web.StreamResponse:
        loaded = self.load(request, provider_id)
        data = loaded.data
        name = f"{table}-{_safe(provider_id)}"

        def named(columns: list[tables.Column]) -> list[tables.Column]:
            return tables.named(columns, loaded.names, export=True)

        if table == "takebacks":
            wanted = WorklistFilter.parse(request.query)
            columns = named(tables.takeback_columns(self.tb.settings.include_patient_data))
            today = today_of(request.query)
            work = (
                takeback_work(await self.actions.gather(provider_id, caller_credentials(request)))
                if wanted.filters_work
                else {}
            )
            found = all_matching(data.takebacks, loaded.index, wanted, work, acting_person(request), today)
            sheet = Sheet("Takebacks", columns, found)
        elif table == "reconciliation":
            sheet = Sheet("Cash per payer", named(tables.RECONCILIATION), reconciliation(data.row))
        elif table == "open-balances":
            ages = loaded.index.open_balances(data.takebacks, as_of_date(data.row))
            sheet = Sheet("Open balances", named(tables.OPEN_BALANCES), ages)
        elif table == "forecast":
            today = today_of(request.query)
            _, lines = coming(data.takebacks, provider_id, today, self.rules, data.row)
            sheet = Sheet("Forecast", named(tables.FORECAST), lines, title=f"Expected offsets as of {today}")
        elif table == "payments":
            lines = payments(data.remittances, carried=loaded.index.carried)
            sheet = Sheet("Payments", named(tables.PAYMENTS), lines)
        elif table in ("deposits", "deposit-payers", "deposit-ages"):
            sheet = await self.deposit_sheet(request, provider_id, table, loaded.names)
        elif table == "statement":
            start, end = date_range(request.query)
            gathered = await self.all_deposits(request)
            statement = build_statement(
                data, start, end, gathered.records, gathered.takeback_providers, today_of(request.query), self.rules
            )
            sheets = statement_sheets(statement, self.tb.settings.include_patient_data)
            if fmt == "csv":
                return await _stream(request, statement_csv(sheets), "text/csv", f"{name}.csv")
            return await self.download(request, fmt, name, sheets)
        else:
            raise NotFound(f"There is no table '{table}' to download; try one of: {', '.join(tables.PROVIDER_TABLES)}.")
        return await self.download(request, fmt, name, [sheet])

    async def deposit_sheet(self, request: web.Request, provider_id: str, table: str, names: Names) -> Sheet:
        gathered = await self.all_deposits(request)
        if table == "deposits":
            wanted = deposits.DepositFilter.parse(request.query)
            mine = deposits.of_provider(gathered.records, provider_id)
            fed = feed_connected(gathered.records)
            lines = deposits.deposit_lines(mine, gathered.takeback_providers, wanted, fed)
            return Sheet("Deposits", tables.named(tables.DEPOSITS, names, export=True), lines)
        row = deposits.provider_position(gathered.records, provider_id, gathered.as_of)
        if table == "deposit-payers":
            columns = tables.named(tables.DEPOSIT_PAYERS, names, export=True)
            return Sheet("ERAs vs bank", columns, deposits.payer_money(row))
        return Sheet("Open deposit items", tables.DEPOSIT_AGES, deposits.open_by_age(row))

    async def download(self, request: web.Request, fmt: str, name: str, sheets: list[Sheet]) -> web.StreamResponse:
        if fmt == "csv":
            return await _stream(request, csv_chunks(sheets[0].columns, sheets[0].items), "text/csv", f"{name}.csv")
        if fmt != "xlsx":
            raise NotFound(f"Downloads come as .csv or .xlsx, not .{fmt}.")
        materialized = [Sheet(s.name, s.columns, list(s.items), s.title) for s in sheets]
        with tempfile.TemporaryDirectory(prefix="takeback-xlsx-") as work:
            path = Path(work) / "export.xlsx"
            # XlsxWriter is CPU work: off the event loop, which the agents share
            await asyncio.get_running_loop().run_in_executor(None, write_xlsx, str(path), materialized)
            return await _stream(request, _file_chunks(path), XLSX_TYPE, f"{name}.xlsx")


FORM_FIELDS_NOT_ACTION = ("action_id", CSRF_FIELD)  # the include's hidden fields (templates/action_fields.html)
BULK_KINDS = (ActionKind.assign, ActionKind.acknowledge)


def takeback_work(work: GatheredWork) -> dict[str, WorkState]:
    """Takeback event id -> its work state."""
    return {s.target_id: s for s in work.states.values() if s.target_kind == ActionTarget.takeback}


def with_untouched(lines: list[OverviewLine], work: GatheredWork) -> list[OverviewLine]:
    """Each line with how many of its takebacks nobody has acted on (rules §12)."""
    touched = work.touched_per_provider()
    return [replace(line, untouched=max(line.takebacks - len(touched.get(line.provider_id, ())), 0)) for line in lines]


def provider_context(
    loaded: Loaded,
    wanted: WorklistFilter,
    paging: Paging,
    work: dict[str, WorkState] | None = None,
    me: str = "",
    today: dt.date | None = None,
    rules: RuleBook | None = None,
) -> dict[str, Any]:
    """What the provider page shows (apart from the request, so the benchmark renders exactly this)."""
    today = today or today_of({})
    data, index, names = loaded.data, loaded.index, loaded.names
    work = work or {}
    as_of = as_of_date(data.row)

    def figures_of() -> tuple[list[figures.BarChart], list[ForecastLine], figures.BarChart]:
        _, forecast = coming(data.takebacks, data.provider_id, today, rules or shipped_rule_book(), data.row)
        return provider_charts(loaded, as_of), forecast, figures.offsets_by_payer(forecast, names, today)

    # every takeback goes into these: once per ledger version (the row's revision) and day, not per view
    revision = data.row.revision if data.row else None
    charts, forecast, forecast_chart = index.remember(("provider page", today, as_of, revision), figures_of)
    return {
        "provider_id": data.provider_id,
        "names": names,
        "row": data.row,
        "reconciliation": reconciliation(data.row),
        "reconciliation_columns": tables.named(tables.RECONCILIATION, names),
        "filters": wanted,
        "page": worklist(data.takebacks, index, wanted, paging, work, me, today),
        "work": work,
        "me": me,
        "today": today,
        "choices": _choices(data, work, me),
        "as_of": as_of,
        "ages": index.open_balances(data.takebacks, as_of),
        "age_columns": tables.named(tables.OPEN_BALANCES, names),
        "charts": charts,
        "forecast_chart": forecast_chart,
        "forecast": forecast,
        "forecast_columns": tables.named(tables.FORECAST, names),
        "payment_lines": payments(data.remittances, carried=index.carried, limit=PAYMENTS_ON_PAGE),
        "payment_columns": tables.named(tables.PAYMENTS, names),
    }


def provider_charts(loaded: Loaded, as_of: dt.date) -> list[figures.BarChart]:
    data, names = loaded.data, loaded.names
    taken = figures.TakenByDay.of(data.takebacks.values())
    return [
        figures.takebacks_by_month(taken, as_of, "reason", names, "taken-by-reason"),
        figures.takebacks_by_month(taken, as_of, "payer", names, "taken-by-payer"),
        figures.cash_against_taken(data.remittances, taken, as_of),
        figures.open_by_age(loaded.index.open_balances(data.takebacks, as_of), names),
    ]


def deposit_context(
    provider_id: str,
    gathered: GatheredDeposits,
    wanted: deposits.DepositFilter,
    paging: Paging,
    names: Names = NO_NAMES,
) -> dict[str, Any]:
    """The provider page's deposits section (rules §10)."""
    row = deposits.provider_position(gathered.records, provider_id, gathered.as_of)
    mine = deposits.of_provider(gathered.records, provider_id)
    lines = deposits.deposit_lines(mine, gathered.takeback_providers, wanted, row.bank_feed_connected)
    return {
        "deposits": {
            "as_of": gathered.as_of,
            "any": bool(mine),
            "connected": row.bank_feed_connected,
            "payers": deposits.payer_money(row),
            "payer_columns": tables.named(tables.DEPOSIT_PAYERS, names),
            "ages": deposits.open_by_age(row),
            "age_columns": tables.DEPOSIT_AGES,
            "filter": wanted,
            "choices": deposits.STATUS_CHOICES,
            "page": _page(lines, paging),
            "missing_workers": gathered.missing_workers,
        }
    }


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class _Listing:
    total: int
    items: list[Any]
    paging: Paging


def overview_names(lines: Iterable[OverviewLine]) -> Names:
    """The overview's lines come from every worker, each named by the worker that holds its provider's ledger."""
    return Names(providers={line.provider_id: line.provider_name for line in lines if line.provider_name})


def _page(items: list[Any], paging: Paging) -> _Listing:
    return _Listing(len(items), items[paging.offset : paging.offset + paging.limit], paging)


def _sort_key(header: str) -> str | None:
    key = {"Provider": "provider_id", "Oldest open item": "oldest_open"}.get(header)
    key = key or header.lower().replace(" ", "_")
    return key if key in OVERVIEW_SORTS else None


def _choices(data: ProviderData, work: dict[str, WorkState] | None = None, me: str = "") -> dict[str, list[str]]:
    payers = sorted({p.payer_id for p in data.row.by_payer} if data.row else set())
    people = sorted({s.assignee for s in (work or {}).values() if s.assignee} - {me})
    return {
        "assignee": [MINE, NOBODY, *people],
        "dispute": [d.value for d in DisputeState],
        "last_action": [UNTOUCHED, *(k.value for k in ActionKind)],
        "status": [s.value for s in TakebackStatus],
        "kind": [k.value for k in TakebackKind],
        "method": [m.value for m in TakebackMethod],
        "category": [c.value for c in ReasonCategory],
        "payer": payers,
        "due_within": [str(days) for days in DUE_WITHIN_CHOICES],
        "sort": list(WORKLIST_SORTS),
    }


def _quote(text: str) -> str:
    return quote(text, safe="")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:60]


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(64 * 1024):
            yield chunk


async def _stream(request: web.Request, chunks: Iterable[bytes], kind: str, filename: str) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": kind + ("; charset=utf-8" if kind.startswith("text/") else ""),
            "Content-Disposition": f'attachment; filename="{filename}"',
        }
    )
    await response.prepare(request)
    for chunk in chunks:
        await response.write(chunk)  # waits while the client is slower than us
    await response.write_eof()
    return response


Handler = Callable[..., Awaitable[web.StreamResponse]]


def guarded(pages: Pages, *, provider: bool = False) -> Callable[[Handler], Handler]:
    """Errors become pages that say what is wrong; a provider's request goes to the worker that owns it."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(view: View, request: Request, **match: str) -> web.StreamResponse:
            try:
                if provider:
                    forwarded = await pages.on_owner(request, match["provider_id"])
                    if forwarded is not None:
                        return forwarded
                return await handler(view, request, **match)
            except BadFilter as exc:
                return pages.error(
                    400, "That filter cannot be used", f"The value of '{exc.field}' is wrong: {exc.why}."
                )
            except NotFound as exc:
                return pages.error(404, "Not found", str(exc))
            except NotReady as exc:
                return pages.error(503, "Not ready", str(exc))
            except web.HTTPException:
                raise
            except Exception as exc:
                # type only: a message may quote data (rules: no patient data in logs)
                log.error("page %s failed: %s", request.path, type(exc).__name__)
                return pages.error(
                    500, "Something went wrong", "The page could not be made; the worker's log says more."
                )

        return run

    return decorate


def register(tb: TakebackApp) -> None:
    """The pages, exports, sign-in and static files, on the worker's web server."""
    app = tb.app
    pages = Pages(tb)

    @app.page("/")
    class Overview(View):
        @guarded(pages)
        async def get(self, request: Request) -> web.StreamResponse:
            return await pages.overview_page(request)

    @app.page("/pages/providers/local")
    class LocalLines(View):
        """This worker's overview lines (what the overview gathers from each worker)."""

        async def get(self, request: Request) -> web.StreamResponse:
            today = today_of(request.query)
            return web.json_response({"items": [line.as_json() for line in pages.local_lines(today)]})

    @app.page("/providers.{fmt}")
    class ProvidersExport(View):
        @guarded(pages)
        async def get(self, request: Request, fmt: str) -> web.StreamResponse:
            return await pages.providers_export(request, fmt)

    @app.page("/deposits-without-era")
    class NoEraPage(View):
        @guarded(pages)
        async def get(self, request: Request) -> web.StreamResponse:
            return await pages.no_era_page(request)

    @app.page("/deposits-without-era.{fmt}")
    class NoEraExport(View):
        @guarded(pages)
        async def get(self, request: Request, fmt: str) -> web.StreamResponse:
            return await pages.no_era_export(request, fmt)

    @app.page("/providers/{provider_id}/view")
    class ProviderPage(View):
        @guarded(pages, provider=True)
        async def get(self, request: Request, provider_id: str) -> web.StreamResponse:
            return await pages.provider_page(request, provider_id)

    @app.page("/providers/{provider_id}/statement")
    class StatementPage(View):
        @guarded(pages, provider=True)
        async def get(self, request: Request, provider_id: str) -> web.StreamResponse:
            return await pages.statement_page(request, provider_id)

    @app.page("/providers/{provider_id}/takebacks/{event_id}")
    class TakebackPage(View):
        @guarded(pages, provider=True)
        async def get(self, request: Request, provider_id: str, event_id: str) -> web.StreamResponse:
            return await pages.takeback_page(request, provider_id, event_id)

    @app.page("/providers/{provider_id}/takebacks/{event_id}/act")
    class TakebackAction(View):
        @guarded(pages, provider=True)
        async def post(self, request: Request, provider_id: str, event_id: str) -> web.StreamResponse:
            return await pages.act_on_takeback(request, provider_id, event_id)

    @app.page("/providers/{provider_id}/bulk-actions")
    class BulkAction(View):
        @guarded(pages, provider=True)
        async def post(self, request: Request, provider_id: str) -> web.StreamResponse:
            return await pages.bulk_act(request, provider_id)

    @app.page("/providers/{provider_id}/takebacks/{event_id}/rebate-request")
    class RebatePage(View):
        @guarded(pages, provider=True)
        async def get(self, request: Request, provider_id: str, event_id: str) -> web.StreamResponse:
            return pages.rebate_page(request, provider_id, event_id)

    @app.page("/providers/{provider_id}/{table}.{fmt}")
    class ProviderExport(View):
        @guarded(pages, provider=True)
        async def get(self, request: Request, provider_id: str, table: str, fmt: str) -> web.StreamResponse:
            return await pages.provider_export(request, provider_id, table, fmt)

    register_access_pages(pages)

    @app.page("/static/{name}")
    class Static(View):
        async def get(self, request: Request, name: str) -> web.StreamResponse:
            found = pages.static.get(name)
            if found is None:
                return pages.error(404, "Not found", f"There is no file {name}.")
            body, kind = found
            return web.Response(body=body, content_type=kind, headers={"Cache-Control": "max-age=3600"})
