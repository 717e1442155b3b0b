"""Deadlines, charts, names and the rebate request on the billing pages, in Chromium against real workers.

The ERAs are written for today (tests/support/deadline_eras.py): a Medicare payer's takebacks with clocks before,
around and after a week from now, one claim taken back twice, and a payer of unknown kind. The page counts its
deadlines to a day it prints; the API is asked for the same day, so a run across midnight still compares like with
like. `TAKEBACK_UPDATE_SCREENSHOTS=1` writes docs/screenshot-deadlines.png (the README's) instead of a temporary file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.runner import RunningPipeline, feed_and_collect
from tests.support.deadline_eras import MEDICARE, PROVIDER, PROVIDER_NAME, write_eras
from tests.support.workers import ready_workers
from tests.test_api import wait_until
from tests.test_pages_browser import (  # noqa: F401  (browser: the module-scoped Chromium fixture)
    api,
    assert_accessible_structure,
    browser,
    run_async,
)

pytestmark = pytest.mark.broker

ROOT = Path(__file__).parent.parent
SCREENSHOT = ROOT / "docs" / "screenshot-deadlines.png"


@dataclass
class Cluster:
    urls: list[str]


@pytest.fixture(scope="module")
def cluster(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("deadline-pages")
    eras = write_eras(work / "eras", dt.datetime.now(dt.UTC).date())
    with ready_workers(broker.url, "deadline-pages", work) as workers:
        run_async(
            feed_and_collect(RunningPipeline(workers.settings, workers.processes[0]), eras, timeout=120, progress=False)
        )
        wait_until(lambda: api(f"{workers.urls[1]}/providers/{PROVIDER}/takebacks?limit=500")["total"] >= 6)
        yield Cluster(workers.urls)


@pytest.fixture
def page(browser) -> Iterator[object]:  # noqa: F811  (the imported fixture)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    context.close()
    assert problems == [], f"browser console errors: {problems}"


def takebacks(cluster: Cluster, query: str = "") -> list[dict]:
    return api(f"{cluster.urls[0]}/providers/{PROVIDER}/takebacks?limit=500&{query}")["items"]


def page_today(page) -> str:
    """The day the worklist counted its deadlines to, as its caption says."""
    caption = page.locator("#worklist caption").inner_text()
    found = re.search(r"deadlines as of (\d{4}-\d{2}-\d{2})", caption)
    assert found, caption
    return found.group(1)


def listed_ids(page) -> set[str]:
    links = page.locator("#worklist tbody a[href*='/takebacks/']")
    return {links.nth(i).get_attribute("href").rsplit("/", 1)[-1] for i in range(links.count())}


def no_inline_script(page) -> None:
    """What a Content-Security-Policy without 'unsafe-inline' would block: inline scripts and handlers."""
    assert page.locator("script:not([src])").count() == 0
    assert page.locator("[onclick], [onload], [onchange], [onsubmit]").count() == 0


def test_the_worklist_due_in_7_days_shows_exactly_what_the_api_says(cluster: Cluster, page) -> None:
    page.goto(f"{cluster.urls[1]}/providers/{PROVIDER}/view")
    assert page.locator("h1").inner_text() == f"Provider {PROVIDER_NAME} ({PROVIDER})"
    page.select_option("#due_within", "7")
    page.select_option("#sort", "act_by")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**due_within=7*")
    page.wait_for_function("document.querySelector('#worklist caption').innerText.includes('act by')")
    today = page_today(page)
    expected = takebacks(cluster, f"due_within=7&sort=act_by&today={today}")
    assert expected, "the ERAs were written so that some takeback is due within the week"
    assert listed_ids(page) == {t["event_id"] for t in expected}
    # every row names its next deadline within the week, and the payer by name
    for row in page.locator("#worklist tbody tr").all():
        text = row.inner_text()
        assert MEDICARE[1] in text
        act_by = dt.date.fromisoformat(re.search(r"(\d{4}-\d{2}-\d{2})\s*\(", text).group(1))
        assert 0 <= (act_by - dt.date.fromisoformat(today)).days <= 7
    # the other filters are the API's too
    for query, field in (("overdue=true", "#overdue"), ("beyond_lookback=true", "#beyond_lookback")):
        page.goto(f"{cluster.urls[0]}/providers/{PROVIDER}/view?{query}&today={today}")
        assert page.locator(field).is_checked()
        assert listed_ids(page) == {t["event_id"] for t in takebacks(cluster, f"{query}&today={today}")}
    assert_accessible_structure(page)
    no_inline_script(page)


def test_a_charts_figures_equal_the_table_beside_it(cluster: Cluster, page, tmp_path: Path) -> None:
    page.goto(f"{cluster.urls[0]}/providers/{PROVIDER}/view")
    figures = page.locator("figure.chart")
    assert figures.count() >= 5
    drawn = 0
    for f in range(figures.count()):
        figure = figures.nth(f)
        if figure.locator("svg").count() == 0:
            continue
        headers = figure.locator("table thead th").all_inner_texts()
        table = {}
        for row in figure.locator("table tbody tr").all():
            label = row.locator("th").inner_text()
            cells = row.locator("td").all_inner_texts()
            for series, cell in zip(headers[1:], cells, strict=False):
                if series != "Total":
                    table[(label, series)] = Decimal(cell.replace(",", ""))
        bars = figure.locator("svg rect.bar")
        pixels_per_dollar = set()
        seen = {}
        for b in range(bars.count()):
            bar = bars.nth(b)
            key = (bar.get_attribute("data-label"), bar.get_attribute("data-series"))
            value = Decimal(bar.get_attribute("data-value"))
            seen[key] = value
            if value:
                pixels_per_dollar.add(round(float(bar.get_attribute("height")) / float(abs(value)), 2))
        assert seen == table, figure.locator("figcaption").inner_text()
        # one scale per chart: a bar's height is its value (to the tenth of a pixel it is drawn at)
        assert len(pixels_per_dollar) <= 1 or max(pixels_per_dollar) - min(pixels_per_dollar) < 0.05
        drawn += 1
    assert drawn >= 4
    # the forecast chart is the API's forecast, per payer
    today = page_today(page)
    forecast = api(f"{cluster.urls[1]}/providers/{PROVIDER}/forecast?today={today}")["items"]
    (medicare,) = [line for line in forecast if line["payer_id"] == MEDICARE[0]]
    rows = page.locator("#forecast table tbody tr").all()
    by_window = {r.locator("th").inner_text(): r.locator("td").first.inner_text() for r in rows}
    for days in (7, 30, 60):
        assert Decimal(by_window[f"within {days} days"].replace(",", "")) == Decimal(medicare[f"within_{days}_days"])
    assert Decimal(medicare["within_60_days"]) > 0
    shot = page.locator("#charts")
    shot.screenshot(path=str(tmp_path / "charts.png"))
    assert (tmp_path / "charts.png").stat().st_size > 10_000


def test_the_takeback_page_says_what_to_do_and_by_when_or_that_there_is_no_deadline(cluster: Cluster, page) -> None:
    page.goto(f"{cluster.urls[0]}/providers/{PROVIDER}/view?due_within=7")
    today = page_today(page)
    (due,) = [t for t in takebacks(cluster, f"due_within=7&today={today}") if t["status"] == "open"]
    page.goto(f"{cluster.urls[1]}/providers/{PROVIDER}/takebacks/{due['event_id']}?today={today}")
    sentence = page.locator("#todo-sentence").inner_text()
    nxt = due["due"]["next_deadline"]
    assert sentence == due["due"]["sentence"]
    assert nxt["act_by"] in sentence and f"day {nxt['day']}" in sentence and nxt["source"]["citation"] in sentence
    assert "may" in sentence and "not legal advice" in sentence
    assert page.locator("#deadlines tbody tr").count() == len(due["deadlines"])
    unknown = next(t for t in takebacks(cluster) if t["payer_kind"] is None)
    page.goto(f"{cluster.urls[1]}/providers/{PROVIDER}/takebacks/{unknown['event_id']}")
    assert page.locator("#todo-sentence").inner_text().startswith("No deadline: unknown payer")
    assert "ACME HEALTH" in page.locator("main").inner_text()
    assert_accessible_structure(page)
    no_inline_script(page)


def test_the_rebate_request_of_money_taken_twice_prints(cluster: Cluster, page, tmp_path: Path) -> None:
    (twice,) = [t for t in takebacks(cluster) if "recovered_twice" in t["flags"]]
    page.goto(f"{cluster.urls[0]}/providers/{PROVIDER}/takebacks/{twice['event_id']}")
    page.get_by_role("link", name="Printable rebate request").click()
    page.wait_for_url("**/rebate-request")
    letter = page.locator("#rebate-request")
    text = letter.inner_text()
    excess = Decimal(twice["recovered_twice_excess"])
    assert f"{excess:,.2f}" in page.locator("#rebate-recoveries tfoot").inner_text()
    assert MEDICARE[1] in text and PROVIDER_NAME in text and twice["claim_id"] in text
    recoveries = {t["event_id"]: t for t in takebacks(cluster)}
    assert page.locator("#rebate-recoveries tbody tr").count() == len(twice["recovered_twice_ids"])
    for event_id in twice["recovered_twice_ids"]:
        assert recoveries[event_id]["trace_number"] in text
    no_inline_script(page)
    page.emulate_media(media="print")
    assert letter.is_visible()
    assert not page.locator("header.site").is_visible()
    assert not page.get_by_role("button", name="Print").is_visible()
    pdf = page.pdf(format="Letter")
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000
    (tmp_path / "rebate.pdf").write_bytes(pdf)


def test_the_overview_counts_what_is_due_this_week_and_names_the_provider(cluster: Cluster, page) -> None:
    page.goto(f"{cluster.urls[1]}/?q=deadline")
    row = page.locator("#providers tbody tr").first
    assert row.locator("td").first.inner_text() == f"{PROVIDER_NAME} ({PROVIDER})"
    headers = page.locator("#providers thead th").all_inner_texts()
    column = next(i for i, h in enumerate(headers) if h.startswith("Due this week"))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert int(row.locator("td").nth(column).inner_text()) == len(takebacks(cluster, f"due_within=7&today={today}"))
    assert page.locator("#forecast-per-provider svg rect.bar").count() >= 1
    row.locator("td").nth(column).get_by_role("link").click()  # the count opens the worklist filtered the same way
    page.wait_for_url("**due_within=7*")
    assert listed_ids(page) == {t["event_id"] for t in takebacks(cluster, f"due_within=7&today={page_today(page)}")}


def test_screenshot_of_the_deadlines_for_the_readme(cluster: Cluster, page, tmp_path: Path) -> None:
    page.goto(f"{cluster.urls[0]}/providers/{PROVIDER}/view?sort=act_by")
    top = page.locator("section[aria-labelledby=worklist-title]").bounding_box()
    bottom = page.locator("#coming").bounding_box()
    clip = {"x": 0, "y": top["y"] - 8, "width": 1400, "height": bottom["y"] + bottom["height"] - top["y"] + 16}
    target = SCREENSHOT if os.environ.get("TAKEBACK_UPDATE_SCREENSHOTS") else tmp_path / SCREENSHOT.name
    page.screenshot(path=str(target), clip=clip, full_page=True)
    assert target.stat().st_size > 10_000
    assert SCREENSHOT.exists() and SCREENSHOT.name in (ROOT / "README.md").read_text()
