"""The pages' names, charts and deadline filters, as plain code (the browser tests show them in Chromium)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from schemas import RuleSource, Takeback, TakebackDeadline
from streams.pages import tables
from streams.pages.charts import OTHER, BarChart, Series, series_from
from streams.pages.exports import csv_chunks
from streams.pages.figures import TakenByDay, months_to, takebacks_by_month
from streams.pages.filters import BadFilter, Paging, WorklistFilter
from streams.pages.names import Names, label
from streams.pages.queries import TakebackIndex, reconciliation, worklist
from tests.test_pages_unit import provider

D = Decimal
TODAY = dt.date(2026, 12, 8)


def test_a_provider_and_a_payer_are_named_one_way() -> None:
    assert label("NORTH CLINIC", "1000000434") == "NORTH CLINIC (1000000434)"
    assert label(None, "1000000434") == "1000000434"
    assert label("  ", "P1") == "P1" and label("ACME", "ACME") == "ACME"
    data = provider()
    facts = list(data.remittances)
    renamed = [
        f.model_copy(update={"payee_name": f"CLINIC {i}", "payer_name": f"PLAN {i}"}) for i, f in enumerate(facts)
    ]
    names = Names.of(renamed)
    latest = renamed[-1]  # the latest remittance's names win
    assert names.provider(latest.payee_id) == f"{latest.payee_name} ({latest.payee_id})"
    assert names.payer(latest.payer_id) == f"{latest.payer_name} ({latest.payer_id})"
    # the reconciliation names its payers on the page; a download keeps the id where it was, the name at the end
    page_columns = tables.named(tables.RECONCILIATION, names)
    lines = reconciliation(data.row)
    assert page_columns[0].read(lines[0]) == names.payer(lines[0].payer_id)
    export = tables.named(tables.RECONCILIATION, names, export=True)
    headers = [c.header for c in export]
    assert headers[0] == "Payer" and headers[-1] == "Payer name"
    text = b"".join(csv_chunks(export, lines)).decode()
    assert f"{lines[0].payer_id}," in text and latest.payer_name in text


def test_a_chart_keeps_its_figures_and_draws_one_scale() -> None:
    chart = BarChart(
        "c",
        "Taken back",
        "Month",
        ("2026-11", "2026-12"),
        (Series("a", (D("10.50"), D(0))), Series("b", (D(5), D(30)))),
        stacked=True,
    )
    assert chart.rows == [("2026-11", (D("10.50"), D(5))), ("2026-12", (D(0), D(30)))]
    svg = str(chart.svg())
    assert 'aria-hidden="true"' in svg and "<script" not in svg and "style=" not in svg
    bars = re.findall(r'height="([\d.]+)"[^>]*data-label="([^"]+)" data-series="([^"]+)" data-value="([^"]+)"', svg)
    assert {(lab, s, D(v)) for _, lab, s, v in bars} == {
        ("2026-11", "a", D("10.50")),
        ("2026-11", "b", D(5)),
        ("2026-12", "a", D(0)),
        ("2026-12", "b", D(30)),
    }
    scale = {round(float(h) / float(v), 1) for h, _, _, v in bars if D(v)}
    assert len(scale) == 1  # the axis tops at 50 (a round number above 30): the same pixels per dollar everywhere


def test_a_negative_figure_is_drawn_side_by_side_not_stacked() -> None:
    chart = BarChart(
        "c", "Net cash", "Month", ("m",), (Series("net cash", (D(-40),)), Series("taken", (D(40),))), stacked=True
    )
    assert not chart.stacked and 'data-value="-40"' in str(chart.svg())


def test_beyond_the_palette_the_smallest_series_are_summed_as_other() -> None:
    sums = {f"payer {i}": {"m": D(i + 1)} for i in range(10)}
    series = series_from(["m"], sums)
    assert len(series) == 8 and series[0].name == "payer 9" and series[-1].name == OTHER
    assert sum(s.values[0] for s in series) == sum(D(i + 1) for i in range(10))


def test_months_run_from_the_first_takeback_to_the_latest_remittance_at_most_a_year() -> None:
    assert months_to(dt.date(2026, 3, 5), [dt.date(2026, 1, 31)]) == ["2026-01", "2026-02", "2026-03"]
    assert len(months_to(dt.date(2026, 3, 5), [dt.date(2019, 1, 1)])) == 12
    data = provider()
    chart = takebacks_by_month(TakenByDay.of(data.takebacks.values()), dt.date(2026, 3, 1), "reason", Names(), "x")
    total = sum((t.amount for t in data.takebacks.values() if not t.withdrawn), D(0))
    assert sum((sum(values, D(0)) for _, values in chart.rows), D(0)) == total


def test_the_deadline_filters_read_the_apis_parameters() -> None:
    wanted = WorklistFilter.parse({"due_within": "7", "overdue": "true", "beyond_lookback": "on", "sort": "act_by"})
    assert (wanted.due_within, wanted.overdue, wanted.beyond_lookback, wanted.sort) == (7, True, True, "act_by")
    assert wanted.as_query() == {"due_within": "7", "overdue": "true", "beyond_lookback": "true", "sort": "act_by"}
    assert WorklistFilter.parse({}).as_query() == {}
    for bad in ({"due_within": "soon"}, {"due_within": "-1"}, {"overdue": "maybe"}, {"sort": "amount"}):
        with pytest.raises(BadFilter):
            WorklistFilter.parse(bad)


def clocked(event_id: str, days: tuple[int, ...], flags: tuple[str, ...] = ()) -> Takeback:
    source = RuleSource(citation="test rule")
    deadlines = [
        TakebackDeadline(
            deadline_kind=f"k{d}", act_by=TODAY + dt.timedelta(days=d), day=30, description="x", source=source
        )
        for d in days
    ]
    return Takeback(
        event_id=event_id,
        revision=1,
        kind="recoupment",
        method="offset",
        amount=D(10),
        provider_id="P",
        payee_provider_id="P",
        payer_id="R",
        trace_number="T",
        remittance_id="r",
        takeback_date=TODAY,
        reason_category="unknown",
        deadlines=deadlines,
        act_by=deadlines[0].act_by if deadlines else None,
        flags=list(flags),
    )


def test_the_worklist_filters_and_sorts_by_deadline_as_of_today() -> None:
    takebacks = {
        t.event_id: t
        for t in (
            clocked("soon", (3, 40)),
            clocked("passed-then-soon", (-5, 7)),
            clocked("later", (8,)),
            clocked("all-passed", (-30, -1), ("beyond_lookback_limit",)),
            clocked("none", ()),
        )
    }
    index = TakebackIndex.build(takebacks)

    def ids(**query: str) -> list[str]:
        return [t.event_id for t in worklist(takebacks, index, WorklistFilter.parse(query), Paging(), TODAY).items]

    assert set(ids(due_within="7")) == {"soon", "passed-then-soon"}
    assert set(ids(overdue="true")) == {"passed-then-soon", "all-passed"}
    assert ids(beyond_lookback="true") == ["all-passed"]
    assert ids(sort="act_by") == ["all-passed", "passed-then-soon", "soon", "later", "none"]
