"""The billing pages' parts without a browser or broker: CSV escaping, filters, age buckets, exports, templates."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from schemas import Takeback
from streams.domain.cash import invariant_holds
from streams.domain.deadlines.rule_tables import shipped_rule_book
from streams.domain.deadlines.today import due
from streams.domain.ledger import ProviderLedger, apply_remittance, cash_row
from streams.pages import tables
from streams.pages.exports import BOM, Sheet, csv_chunks, escape_cell, money_text, write_xlsx
from streams.pages.filters import BadFilter, OverviewQuery, Paging, WorklistFilter
from streams.pages.queries import (
    AGE_BUCKETS,
    OverviewLine,
    ProviderData,
    TakebackIndex,
    open_balances_by_age,
    overview,
    payments,
    reconciliation,
    worklist,
)
from streams.pages.render import FLAG_SENTENCES, environment
from streams.pages.statement import build_statement, write_statement
from tests.support.builders import PROVIDER, claim, plb, remittance


def provider() -> ProviderData:
    ledger = ProviderLedger(provider_id=PROVIDER)
    for r in (
        remittance("CHK100", "2026-01-10", [claim("PCN1", "1", "100.00", pcn="ICN1"), claim("PCN2", "1", "40.00")]),
        remittance("EFT200", "2026-02-01", [claim("PCN1", "22", "-100.00", pcn="ICN1"), claim("PCN3", "1", "160.00")]),
        remittance("EFT300", "2026-03-01", [claim("PCN4", "1", "90.00")], [plb("WO", "40.00", "PCN2")]),
    ):
        apply_remittance(ledger, r)
    return ProviderData(PROVIDER, cash_row(ledger), ledger.emitted, ledger.remittances.values())


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(start: str) -> None:
    assert escape_cell(f'{start}HYPERLINK("x")') == f'\'{start}HYPERLINK("x")'
    assert escape_cell(f"a{start}b") == f"a{start}b"


def test_csv_has_a_bom_escapes_text_and_keeps_negative_money_a_number() -> None:
    columns = [tables.col("Claim", "text", "claim_id"), tables.col("Amount", "money", "amount")]

    class Row:
        def __init__(self, claim_id: str, amount: Decimal) -> None:
            self.claim_id, self.amount = claim_id, amount

    body = b"".join(csv_chunks(columns, [Row("=cmd|' /C calc'!A0", Decimal("-12.5")), Row("PCN1", Decimal("3"))]))
    text = body.decode("utf-8")
    assert text.startswith(BOM)
    rows = list(csv.reader(io.StringIO(text.removeprefix(BOM))))
    assert rows == [["Claim", "Amount"], ["'=cmd|' /C calc'!A0", "-12.50"], ["PCN1", "3.00"]]


def test_money_keeps_cents_and_any_extra_places() -> None:
    assert money_text(Decimal("5")) == "5.00"
    assert money_text(Decimal("-0.1")) == "-0.10"
    assert money_text(Decimal("1.005")) == "1.005"


def test_filters_read_the_query_and_say_which_value_is_wrong() -> None:
    wanted = WorklistFilter.parse({"kind": "recoupment", "from": "2026-01-01", "to": "2026-12-31", "payer": " P1 "})
    assert (wanted.kind, wanted.payer, wanted.date_from) == ("recoupment", "P1", dt.date(2026, 1, 1))
    assert wanted.as_query() == {"kind": "recoupment", "payer": "P1", "from": "2026-01-01", "to": "2026-12-31"}
    for query, field in (
        ({"kind": "bogus"}, "kind"),
        ({"status": "lost"}, "status"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "from"),
        ({"category": "x"}, "category"),
    ):
        with pytest.raises(BadFilter) as caught:
            WorklistFilter.parse(query)
        assert caught.value.field == field
    for query in ({"limit": "0"}, {"limit": "x"}, {"offset": "-1"}):
        with pytest.raises(BadFilter):
            Paging.parse(query)
    with pytest.raises(BadFilter):
        OverviewQuery.parse({"sort": "password"})


def test_worklist_is_newest_first_filtered_and_paged() -> None:
    data = provider()
    index = TakebackIndex.build(data.takebacks)
    everything = worklist(data.takebacks, index, WorklistFilter(), Paging(limit=1))
    assert everything.total == 2 and len(everything.items) == 1
    assert everything.items[0].takeback_date == dt.date(2026, 3, 1)
    second = worklist(data.takebacks, index, WorklistFilter(), Paging(limit=1, offset=1))
    assert second.items[0].takeback_date == dt.date(2026, 2, 1)
    plb_only = worklist(data.takebacks, index, WorklistFilter(date_from=dt.date(2026, 2, 15)), Paging())
    assert [t.plb_reason_code for t in plb_only.items] == ["WO"]
    assert worklist(data.takebacks, index, WorklistFilter(payer="nobody"), Paging()).total == 0


def takeback(status: str | None, remaining: str | None, day: str, payer: str = "P1", amount: str = "10") -> Takeback:
    return Takeback(
        event_id=f"{status}-{day}-{payer}-{remaining}",
        kind="recoupment",
        method="offset",
        amount=Decimal(amount),
        provider_id=PROVIDER,
        payee_provider_id=PROVIDER,
        payer_id=payer,
        trace_number="T",
        remittance_id="R",
        takeback_date=dt.date.fromisoformat(day),
        reason_category="unknown",
        status=status,
        remaining=Decimal(remaining) if remaining else None,
    )


def test_open_balances_fall_in_age_buckets_per_payer() -> None:
    as_of = dt.date(2026, 6, 30)
    items = [
        takeback("open", "5.00", "2026-06-30"),  # 0 days
        takeback("open", "7.00", "2026-05-31"),  # 30 days: still 0-30
        takeback("open", "11.00", "2026-05-30"),  # 31 days
        takeback("open", None, "2026-01-01", amount="13"),  # over 120, no remaining given: the whole amount
        takeback("settled", None, "2026-06-01"),
        takeback(None, None, "2026-06-01"),
        takeback("open", "3.00", "2026-04-01", payer="P2"),  # 90 days
    ]
    lines = open_balances_by_age(items, as_of)
    assert [line.payer_id for line in lines] == ["P1", "P2", "all payers"]
    assert lines[0].buckets == [Decimal("12.00"), Decimal("11.00"), 0, 0, Decimal("13")]
    assert lines[1].buckets == [0, 0, Decimal("3.00"), 0, 0]
    assert lines[2].total == Decimal("39.00") and len(lines[2].buckets) == len(AGE_BUCKETS)


def test_payments_are_one_row_per_check_with_what_it_carried() -> None:
    data = provider()
    lines = payments(data.remittances, data.takebacks.values())
    assert [p.trace_number for p in lines] == ["EFT300", "EFT200", "CHK100"]
    eft300 = lines[0]
    assert (eft300.claims_paid, eft300.plb_lines, eft300.takebacks) == (1, 1, 1)
    assert (eft300.amount, eft300.taken_back, eft300.plb_total) == (
        Decimal("50.00"),
        Decimal("40.00"),
        Decimal("40.00"),
    )


def test_reconciliation_adds_up_per_payer_and_in_total() -> None:
    lines = reconciliation(provider().row)
    assert all(invariant_holds(line) for line in lines)
    assert lines[-1].payer_id == "all payers"


def test_overview_searches_and_sorts_with_missing_dates_last() -> None:
    def line(pid: str, net: str, oldest: str | None) -> OverviewLine:
        zero = Decimal(0)
        day = dt.date.fromisoformat(oldest) if oldest else None
        return OverviewLine(pid, Decimal(net), zero, zero, zero, zero, day, 0, 0, None)

    lines = [line("111", "5", None), line("222", "9", "2026-01-01"), line("123", "1", "2025-01-01")]
    assert [x.provider_id for x in overview(lines, OverviewQuery(search="1"))] == ["111", "123"]
    by_net = overview(lines, OverviewQuery(sort="net_cash", descending=True))
    assert [x.provider_id for x in by_net] == ["222", "111", "123"]
    for descending in (False, True):
        ordered = overview(lines, OverviewQuery(sort="oldest_open", descending=descending))
        assert ordered[-1].provider_id == "111"


def test_xlsx_has_numbers_dates_a_header_and_frozen_panes(tmp_path: Path) -> None:
    data = provider()
    path = tmp_path / "t.xlsx"
    items = list(data.takebacks.values())
    write_xlsx(str(path), [Sheet("Takebacks", tables.takeback_columns(False), items)])
    sheet = openpyxl.load_workbook(path).active
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["Takeback date", "Status", "Kind", "Method", "Amount"]
    amounts = sorted(Decimal(str(row[4].value)) for row in sheet.iter_rows(min_row=2))
    assert amounts == sorted(t.amount for t in items)
    first = sheet.cell(row=2, column=1)
    assert first.is_date and "$" in sheet.cell(row=2, column=5).number_format


def test_statement_writes_csv_and_xlsx_and_refuses_other_files(tmp_path: Path) -> None:
    statement = build_statement(provider(), dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert [t.takeback_date for t in statement.takebacks] == [dt.date(2026, 2, 1)]
    assert [p.trace_number for p in statement.payments] == ["EFT200"]
    write_statement(tmp_path / "s.csv", statement, include_patient_data=False)
    text = (tmp_path / "s.csv").read_text("utf-8")
    assert text.startswith(BOM + "Summary") and text.count(BOM) == 1 and "Payments: Provider" in text
    write_statement(tmp_path / "s.xlsx", statement, include_patient_data=False)
    assert openpyxl.load_workbook(tmp_path / "s.xlsx").sheetnames == [
        "Summary",
        "Takebacks",
        "Open balances",
        "Payments",
        "Deposits",
        "Forecast",
    ]
    with pytest.raises(ValueError):
        write_statement(tmp_path / "s.pdf", statement, include_patient_data=False)


def test_every_flag_the_domain_raises_has_a_sentence() -> None:
    domain = Path(__file__).parent.parent / "streams" / "domain"
    code = (line.split("  #")[0] for f in domain.rglob("*.py") for line in f.read_text().splitlines())
    lines = [line for line in code if "flag" in line and not line.lstrip().startswith("#")]  # not comments
    quoted = {name for line in lines for name in re.findall(r'"([a-z][a-z_]+)"', line)}
    raised = quoted - {"applied", "flags"} - set(Takeback.model_fields)  # a field set beside a flag is no flag
    assert "original_not_found" in raised
    assert raised - set(FLAG_SENTENCES) == set()


def test_templates_render_with_a_dash_for_missing_fields_and_no_patient_columns_by_default() -> None:
    env = environment()
    data = provider()
    t = next(iter(data.takebacks.values()))
    today = dt.date(2026, 12, 7)
    context = {"t": t, "revisions": [], "today": today, "due": due(t, today, shipped_rule_book()), "rebate": None}
    html = env.get_template("takeback.html").render(include_patient_data=False, **context)
    assert "—" in html and "Patient" not in html
    assert (
        "No deadline: unknown payer" in html and t.payer_kind is None
    )  # the builders' payer is of no known kind: said plainly
    html = env.get_template("takeback.html").render(include_patient_data=True, **context)
    assert "Patient" in html


def index_fields(index: TakebackIndex) -> dict:
    return {k: v for k, v in index.__dict__.items() if k not in ("snapshot", "position_of", "ages")}


def test_the_index_follows_revisions_and_new_takebacks_as_a_rebuild_would() -> None:
    takebacks = {
        t.event_id: t
        for t in (
            takeback("open", "5.00", "2026-06-30"),
            takeback("needs_review", None, "2026-05-31"),
            takeback("open", "3.00", "2026-04-01", payer="P2"),
        )
    }
    index = TakebackIndex.build(takebacks)
    first = next(iter(takebacks))
    takebacks[first] = takebacks[first].model_copy(update={"status": "settled", "remaining": None})  # a revision
    newer = takeback("needs_review", None, "2026-07-15", payer="P3")
    takebacks[newer.event_id] = newer
    updated = index.updated(takebacks)
    assert updated is index  # changed in place
    assert index_fields(updated) == index_fields(TakebackIndex.build(takebacks))
    assert (updated.needs_review, updated.open_count, updated.oldest_open) == (2, 1, dt.date(2026, 4, 1))

    older = takeback("open", "1.00", "2020-01-01")  # sorts last: the index is rebuilt
    takebacks[older.event_id] = older
    rebuilt = updated.updated(takebacks)
    assert index_fields(rebuilt) == index_fields(TakebackIndex.build(takebacks))
    worklist_ids = [t.event_id for t in worklist(takebacks, rebuilt, WorklistFilter(status="open"), Paging()).items]
    assert worklist_ids == [
        t.event_id
        for t in sorted(takebacks.values(), key=lambda t: t.takeback_date, reverse=True)
        if t.status == "open"
    ]
