"""The billing pages in a real browser (Debian's Chromium driven by Playwright) against real workers and a broker.

Two loopback workers share the partitions (so half the provider pages are answered by forwarding); a third worker,
in its own topic namespace, listens beyond loopback with a token, for the sign-in. Every downloaded figure is
checked against the JSON API to the cent. Screenshots go to the test's tmp dir.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from playwright.sync_api import expect

from streams.broker import EmbeddedBroker, free_port
from streams.kafka_io import collect_reassociations, ensure_topics
from streams.runner import RunningPipeline, WorkerProcess, feed_and_collect
from streams.settings import Settings
from tests.support.corpus_deposits import EXTRA, bank_files_for
from tests.support.workers import ready_workers
from tests.test_api import FILES, wait_until

pytestmark = pytest.mark.broker

CHROMIUM = "/usr/bin/chromium"
SYNTHETIC_PROVIDER = "1234567893"  # the synthetic file's payee: WO, WU and claim reversals
TOKEN = "pages-" + uuid.uuid4().hex[:12]


def run_async(coroutine: object) -> object:
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def api(url: str, token: str | None = None) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def status_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@dataclass
class Cluster:
    urls: list[str]
    providers: dict[str, dict]  # provider id -> the API's row
    settings: Settings
    deposits: dict[tuple, str]  # match key -> the status the generated bank files were built to give


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed: run scripts/install-test-tools (as root)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def cluster(broker: EmbeddedBroker, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    work = tmp_path_factory.mktemp("pages")
    with ready_workers(broker.url, "pages", work) as workers:
        urls, base, first = workers.urls, workers.settings, workers.processes[0]
        # the ERAs and a bank's deposits for them: one missing, one short by a takeback, one with no ERA
        eras = [corpus / f for f in FILES]
        bank_files, deposits = bank_files_for(eras, work)
        results = asyncio.run(
            feed_and_collect(RunningPipeline(base, first), [*eras, *bank_files], timeout=120, progress=False)
        )
        asyncio.run(collect_reassociations(base, timeout=120, health=first.problem))
        wait_until(lambda: api(f"{urls[1]}/providers?limit=500")["total"] == len(results.net_cash))
        rows = {r["provider_id"]: r for r in api(f"{urls[0]}/providers?limit=500")["items"]}
        yield Cluster(urls=urls, providers=rows, settings=base, deposits=deposits)


@pytest.fixture
def page(browser, tmp_path: Path) -> Iterator[object]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: problems.append(str(error)))
    yield opened
    context.close()
    assert problems == [], f"browser console errors: {problems}"


def shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def assert_accessible_structure(page, tables_expected: bool = True) -> None:
    """Every table has header cells; every visible form field has a label."""
    tables = page.locator("table")
    assert (tables.count() > 0) == tables_expected
    for i in range(tables.count()):
        assert tables.nth(i).locator("thead th").count() > 0
    fields = page.locator("input:not([type=hidden]), select")
    for i in range(fields.count()):
        field_id = fields.nth(i).get_attribute("id")
        assert field_id and page.locator(f"label[for='{field_id}']").count() == 1, field_id


def tab_reaches(page, wanted: set[str], presses: int = 80) -> set[str]:
    """Press Tab from the top of the page; which of the wanted selectors got the focus on the way."""
    page.locator("body").focus()
    reached: set[str] = set()
    for _ in range(presses):
        page.keyboard.press("Tab")
        for selector in wanted - reached:
            if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
                reached.add(selector)
        if reached == wanted:
            break
    return reached


def download(page, click) -> Path:
    with page.expect_download() as info:
        click()
    return Path(info.value.path())


def read_csv(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def read_xlsx(path: Path) -> list[dict[str, object]]:
    sheet = openpyxl.load_workbook(io.BytesIO(path.read_bytes())).active
    assert sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def cents(value: object) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def test_overview_lists_every_provider_and_its_downloads_match_the_api(cluster: Cluster, page, tmp_path: Path) -> None:
    page.goto(cluster.urls[0] + "/")
    assert page.title().startswith("Providers")
    assert page.locator("#providers tbody tr").count() == len(cluster.providers)
    shot(page, tmp_path, "overview")
    assert_accessible_structure(page)
    assert tab_reaches(page, {"#q", f"a[href='/providers/{SYNTHETIC_PROVIDER}/view']"}) == {
        "#q",
        f"a[href='/providers/{SYNTHETIC_PROVIDER}/view']",
    }

    for rows in (
        read_csv(download(page, lambda: page.get_by_role("link", name="CSV").click())),
        read_xlsx(download(page, lambda: page.get_by_role("link", name="Excel (XLSX)").click())),
    ):
        assert {str(r["Provider"]) for r in rows} == set(cluster.providers)
        for r in rows:
            expected = cluster.providers[str(r["Provider"])]
            for header, field in (
                ("Net cash", "net_cash"),
                ("Claim payments", "claim_payments"),
                ("Reversed", "reversed"),
                ("Recouped", "recouped"),
                ("Still owed", "forward_balance"),
            ):
                assert cents(r[header]) == cents(expected[field]), (r["Provider"], header)

    page.fill("#q", SYNTHETIC_PROVIDER[:6])
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**/?q=*")
    listed = page.locator("#providers tbody tr td:first-child").all_inner_texts()
    assert listed and all(SYNTHETIC_PROVIDER[:6] in p for p in listed)


def test_provider_page_filters_pages_and_exports_what_the_api_has(cluster: Cluster, page, tmp_path: Path) -> None:
    expected = api(f"{cluster.urls[0]}/providers/{SYNTHETIC_PROVIDER}/takebacks?limit=500")["items"]
    assert expected
    for url in cluster.urls:  # one of them forwards to the owner
        page.goto(url + "/")
        page.get_by_role("link", name=SYNTHETIC_PROVIDER).click()
        page.wait_for_url(f"**/providers/{SYNTHETIC_PROVIDER}/view")
        assert page.locator("#worklist tbody tr").count() == len(expected)
    shot(page, tmp_path, "provider")
    assert_accessible_structure(page)
    filters = {"#status", "#kind", "#method", "#category", "#payer", "#from", "#to"}
    assert tab_reaches(page, filters | {"#worklist tbody a"}) == filters | {"#worklist tbody a"}

    # the reconciliation's total line is the API's row
    row = cluster.providers[SYNTHETIC_PROVIDER]
    total = page.locator("table").first.locator("tbody tr").last.locator("td").all_inner_texts()
    assert total[0] == "all payers" and Decimal(total[-1].replace(",", "")) == Decimal(row["net_cash"])

    # filter (htmx swaps the worklist and pushes the URL)
    recoupments = [t for t in expected if t["kind"] == "recoupment"]
    page.select_option("#kind", "recoupment")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**kind=recoupment*")
    expect(page.locator("#worklist tbody tr")).to_have_count(len(recoupments))
    kinds = page.locator("#worklist tbody tr td:nth-child(3)").all_inner_texts()
    assert kinds == ["recoupment"] * len(recoupments)

    csv_rows = read_csv(download(page, lambda: page.locator("#worklist").get_by_role("link", name="CSV").click()))
    xlsx_path = download(page, lambda: page.locator("#worklist").get_by_role("link", name="Excel (XLSX)").click())
    xlsx_rows = read_xlsx(xlsx_path)
    by_id = {t["event_id"]: t for t in recoupments}
    for rows in (csv_rows, xlsx_rows):
        assert {r["Takeback id"] for r in rows} == set(by_id)
        for r in rows:
            t = by_id[r["Takeback id"]]
            assert cents(r["Amount"]) == cents(t["amount"])
            assert (r["Kind"], r["Method"], r["Payer"]) == (t["kind"], t["method"], t["payer_id"])
    first_date = openpyxl.load_workbook(io.BytesIO(xlsx_path.read_bytes())).active.cell(row=2, column=1)
    assert first_date.is_date

    # paging: one per page, newest first, "Older" walks them all
    page.goto(f"{cluster.urls[1]}/providers/{SYNTHETIC_PROVIDER}/view?limit=1")
    seen = []
    for _ in range(len(expected)):
        seen.append(page.locator("#worklist tbody a").first.get_attribute("href"))
        older = page.get_by_role("link", name="Older")
        if older.count() == 0:
            break
        older.click()  # htmx swaps the worklist in place and pushes the URL
        page.wait_for_url(f"**offset={len(seen)}*")
        expect(page.locator("#worklist tbody a").first).not_to_have_attribute("href", seen[-1])
    assert len(set(seen)) == len(expected)


def test_provider_page_shows_deposits_against_the_eras_and_follows_a_mismatch_to_its_takeback(
    cluster: Cluster, page, tmp_path: Path
) -> None:
    positions = api(f"{cluster.urls[0]}/deposits")["items"]
    assert sorted(cluster.deposits.values()) == ["amount_mismatch", "deposit_without_era", "era_without_deposit"]
    (row,) = [p for p in positions if p["counts"].get("amount_mismatch")]
    provider = row["provider_id"]
    for url in cluster.urls:  # one of them forwards to the owner; each gathers every worker's records
        page.goto(f"{url}/providers/{provider}/view")
        assert page.locator("#deposits h2").inner_text() == "Deposits"
        assert page.locator("#deposit-records tbody tr.deposit").count() == sum(row["counts"].values())
    assert_accessible_structure(page)

    # money per ERAs and per bank, per payer: the download is GET /deposits to the cent
    payers = read_csv(download(page, lambda: page.locator("a[href$='/deposit-payers.csv']").click()))
    by_payer = {p["payer_id"]: p for p in row["by_payer"]} | {"all payers": row}
    assert [r["Payer"] for r in payers] == [*(p["payer_id"] for p in row["by_payer"]), "all payers"]
    for r in payers:
        expected = by_payer[r["Payer"]]
        for header, field in (
            ("Money per ERAs", "era_amount"),
            ("Money per bank", "deposit_amount"),
            ("Missing", "missing_amount"),
            ("No ERA", "unposted_amount"),
            ("Amounts differ by", "mismatch_amount"),
            ("Paid twice", "duplicate_amount"),
        ):
            assert cents(r[header]) == cents(expected[field]), (r["Payer"], header)
        assert cents(r["Difference"]) == cents(expected["deposit_amount"]) - cents(expected["era_amount"])
    ages = read_xlsx(download(page, lambda: page.locator("a[href$='/deposit-ages.xlsx']").click()))
    assert ages[-1]["Age"] == "total" and ages[-1]["Open items"] == sum(row["open_items_by_age"].values())

    # filter by status (htmx swaps the list and pushes the URL); the sentence says what the difference is
    page.select_option("#deposit_status", "amount_mismatch")
    page.get_by_role("button", name="Show deposits").click()
    page.wait_for_url("**deposit_status=amount_mismatch*")
    expect(page.locator("#deposit-records tbody tr.deposit")).to_have_count(1)
    mismatch_row = page.locator("#deposit-records tbody tr.deposit")
    said = mismatch_row.inner_text()
    assert "The bank shows $" in said and "the difference is the takebacks below" in said
    section = tmp_path / "deposits-section.png"  # what docs/screenshot-deposits.png is taken from
    page.locator("#deposits").screenshot(path=str(section))
    assert section.stat().st_size > 10_000

    (downloaded,) = read_csv(
        download(page, lambda: page.locator("#deposit-records").get_by_role("link", name="CSV").click())
    )
    (record,) = [
        r
        for r in api(f"{cluster.urls[1]}/deposits/{downloaded['Trace (EFT/check)']}")["items"]
        if r["status"] == "amount_mismatch"
    ]
    for header, field in (("ERA paid", "era_amount"), ("Bank shows", "deposit_amount"), ("Difference", "difference")):
        assert cents(downloaded[header]) == cents(record[field]), header
    assert downloaded["Explained by takebacks"].split() == record["explained_by"]

    # each takeback that explains the difference links to its own page (its provider's, which may be another)
    (takeback_id,) = record["explained_by"]
    mismatch_row.locator(f"a[href$='/takebacks/{takeback_id}']").click()
    page.wait_for_url(f"**/takebacks/{takeback_id}")
    heading = page.locator("h1").inner_text()
    assert f"{-Decimal(record['difference']):,.2f}" in heading


def test_overview_lists_the_deposits_no_era_names(cluster: Cluster, page, tmp_path: Path) -> None:
    (unknown,) = api(f"{cluster.urls[0]}/deposits?provider_id=")["items"]
    page.goto(cluster.urls[1] + "/")
    cells = page.locator("#no-era tbody tr").first.locator("td").all_inner_texts()
    assert cells == ["no ERA", "1", f"{EXTRA.amount:,.2f}", EXTRA.effective_date.isoformat()]
    assert cents(cells[2].replace(",", "")) == cents(unknown["unposted_amount"])
    page.get_by_role("link", name="See each deposit").click()
    page.wait_for_url("**/deposits-without-era")
    assert EXTRA.trace_number in page.locator("#no-era-records tbody").inner_text()
    assert_accessible_structure(page)
    (listed,) = read_csv(download(page, lambda: page.get_by_role("link", name="CSV").click()))
    assert (listed["Trace (EFT/check)"], cents(listed["Bank shows"])) == (EXTRA.trace_number, cents(EXTRA.amount))


def test_takeback_page_says_what_and_why(cluster: Cluster, page, tmp_path: Path) -> None:
    expected = api(f"{cluster.urls[0]}/providers/{SYNTHETIC_PROVIDER}/takebacks?limit=500")["items"]
    flagged = next(t for t in expected if t["flags"])
    page.goto(f"{cluster.urls[1]}/providers/{SYNTHETIC_PROVIDER}/view")
    page.locator(f"a[href$='/takebacks/{flagged['event_id']}']").click()
    page.wait_for_url(f"**/takebacks/{flagged['event_id']}")
    heading = page.locator("h1").inner_text()
    assert f"{Decimal(flagged['amount']):,.2f}" in heading and flagged["kind"] in heading
    body = page.locator("main").inner_text()
    assert flagged["trace_number"] in body
    for flag in flagged["flags"]:
        assert flag in body
    assert "because of" in body and "Revisions" in body
    assert_accessible_structure(page)
    shot(page, tmp_path, "takeback")


def test_statement_prints_without_navigation(cluster: Cluster, page, tmp_path: Path) -> None:
    page.goto(f"{cluster.urls[0]}/providers/{SYNTHETIC_PROVIDER}/statement")
    assert page.locator("h2").all_inner_texts() == [
        "Summary",
        "Takebacks",
        "Open balances by age",
        "Payments",
        "Deposits",
    ]
    page.emulate_media(media="print")
    assert not page.locator("header.site").is_visible()
    assert not page.locator("form").is_visible()
    shot(page, tmp_path, "statement-print")


def test_bad_filters_and_unknown_things_are_pages_that_say_so(cluster: Cluster, browser) -> None:
    base = f"{cluster.urls[0]}/providers/{SYNTHETIC_PROVIDER}"
    context = browser.new_context()  # no console check here: the browser logs each 4xx it is shown
    try:
        page = context.new_page()
        for url, status, said in (
            (f"{base}/view?kind=bogus", 400, "kind"),
            (f"{base}/view?from=2026-02-30", 400, "from"),
            (f"{base}/takebacks.xlsx?status=lost", 400, "status"),
            (f"{cluster.urls[1]}/providers/0000000000/view", 404, "0000000000"),
            (f"{base}/takebacks/no-such-takeback", 404, "no-such-takeback"),
            (f"{base}/nothing.csv", 404, "nothing"),
        ):
            response = page.goto(url)
            text = page.locator("main").inner_text()
            assert response.status == status and said in text, (url, response.status, text)
            assert "Traceback" not in page.content()
    finally:
        context.close()


def test_pages_read_without_javascript(cluster: Cluster, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.goto(f"{cluster.urls[0]}/providers/{SYNTHETIC_PROVIDER}/view?kind=recoupment")
        kinds = plain.locator("#worklist tbody tr td:nth-child(3)").all_inner_texts()
        assert kinds and set(kinds) == {"recoupment"}
    finally:
        context.close()


def test_the_open_demo_says_so_and_refuses_changes_from_other_sites(cluster: Cluster, page) -> None:
    """No people and no token: open to this machine, with a banner; a POST another site's page makes is refused by
    its Origin (there is no session, so no cross-site token to check)."""
    page.goto(cluster.urls[0] + "/")
    assert "Demo mode" in page.locator(".demo-banner").inner_text()
    form = urllib.parse.urlencode({"op": "disable", "name": "nobody"}).encode()

    def post(origin: str) -> tuple[int, str]:
        request = urllib.request.Request(f"{cluster.urls[0]}/admin/people", data=form, headers={"Origin": origin})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    assert post("http://evil.example")[0] == 403
    status, body = post(cluster.urls[0])  # this server's own page: the change is looked at (and there is nobody)
    assert status == 200 and "nobody is called nobody" in body


def report(cluster: Cluster, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "streams.cli", "report", *args, "--broker", cluster.settings.broker]
    env = {**os.environ, "TAKEBACK_TOPIC_PREFIX": cluster.settings.topic_prefix}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)


def test_report_command_writes_the_statement_with_the_api_figures(cluster: Cluster, tmp_path: Path) -> None:
    expected = api(f"{cluster.urls[0]}/providers/{SYNTHETIC_PROVIDER}/takebacks?limit=500")["items"]
    out = tmp_path / "statement.xlsx"
    run = report(cluster, "--provider", SYNTHETIC_PROVIDER, "--out", str(out))
    assert run.returncode == 0, run.stderr
    workbook = openpyxl.load_workbook(out)
    assert workbook.sheetnames == ["Summary", "Takebacks", "Open balances", "Payments", "Deposits", "Forecast"]
    forecast_header = next(workbook["Forecast"].iter_rows(min_row=2, max_row=2, values_only=True))
    assert forecast_header[0] == "Payer" and forecast_header[-1] == "Payer name"  # ids where they were, names last
    rows = list(workbook["Takebacks"].iter_rows(min_row=2, values_only=True))  # row 1: the period
    header, body = rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert "Amount" in header
    assert {r["Takeback id"]: cents(r["Amount"]) for r in body} == {t["event_id"]: cents(t["amount"]) for t in expected}
    payments = list(workbook["Payments"].iter_rows(min_row=3, values_only=True))
    assert payments and all(isinstance(p[0], dt.datetime) for p in payments)

    empty = tmp_path / "none.csv"
    run = report(cluster, "--provider", SYNTHETIC_PROVIDER, "--from", "2099-01-01", "--out", str(empty))
    assert run.returncode == 0, run.stderr
    text = empty.read_text("utf-8-sig")
    assert text.startswith("Summary") and "Takebacks: Provider" in text and SYNTHETIC_PROVIDER in text

    # the deposits: the provider's records and the to-date figures of GET /deposits
    (row,) = [p for p in api(f"{cluster.urls[0]}/deposits")["items"] if p["counts"].get("amount_mismatch")]
    out = tmp_path / "deposits.xlsx"
    run = report(cluster, "--provider", row["provider_id"], "--out", str(out))
    assert run.returncode == 0, run.stderr
    workbook = openpyxl.load_workbook(out)
    rows = list(workbook["Deposits"].iter_rows(min_row=2, values_only=True))
    body = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert sorted(r["Status"] for r in body) == sorted(s for s, n in row["counts"].items() for _ in range(n))
    summary = {r[0]: r[1] for r in workbook["Summary"].iter_rows(min_row=3, values_only=True)}
    assert cents(summary["Money per ERAs to date (payments that expect a deposit)"]) == cents(row["era_amount"])
    assert cents(summary["Money per bank to date"]) == cents(row["deposit_amount"])

    run = report(cluster, "--provider", "0000000000", "--out", str(tmp_path / "x.csv"))
    assert run.returncode == 1 and run.stderr.strip().splitlines() == [run.stderr.strip()]
    assert "0000000000" in run.stderr and "Traceback" not in run.stderr


def non_loopback_address() -> str | None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_off_loopback_a_browser_signs_in_with_the_token(
    broker: EmbeddedBroker, corpus: Path, browser, tmp_path: Path
) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    port = free_port()
    settings = Settings(
        broker=broker.url,
        topic_prefix=f"signin-{uuid.uuid4().hex[:8]}.",
        session_timeout=2.0,
        web_host="0.0.0.0",
        web_port=port,
        canonical_url=f"http://{address}:{port}",
        api_token=TOKEN,
        data_dir=tmp_path / "state",
    )
    run_async(ensure_topics(settings))
    url = f"http://{address}:{port}"
    with WorkerProcess(settings, tmp_path / "worker.log") as worker:
        wait_until(lambda: status_ok(f"{url}/readyz"))
        run_async(feed_and_collect(RunningPipeline(settings, worker), [corpus / FILES[0]], timeout=120, progress=False))
        context = browser.new_context()
        try:
            signed_in = context.new_page()
            signed_in.goto(f"{url}/providers/{SYNTHETIC_PROVIDER}/view")
            assert "/signin" in signed_in.url
            assert_accessible_structure(signed_in, tables_expected=False)
            signed_in.fill("#token", "wrong")
            signed_in.get_by_role("button", name="Sign in").click()
            assert "not the right one" in signed_in.locator("main").inner_text()
            signed_in.fill("#token", TOKEN)
            signed_in.get_by_role("button", name="Sign in").click()
            signed_in.wait_for_url(f"**/providers/{SYNTHETIC_PROVIDER}/view")
            assert signed_in.locator("#worklist tbody tr").count() > 0
            (cookie,) = context.cookies()
            assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Lax")
            assert TOKEN not in cookie["value"]
            assert signed_in.evaluate("document.cookie") == ""  # not readable by scripts
        finally:
            context.close()
        assert api(f"{url}/providers", token=TOKEN)["total"] >= 1
    assert TOKEN not in (tmp_path / "worker.log").read_text(errors="replace")


def test_screenshot_for_the_readme_is_committed() -> None:
    root = Path(__file__).parent.parent
    for name in ("docs/screenshot-provider.png", "docs/screenshot-deposits.png"):
        assert (root / name).exists() and (root / name).stat().st_size > 10_000
        assert name in (root / "README.md").read_text()


def test_a_person_disputes_a_takeback_then_finds_it_in_mine_and_in_its_history(
    cluster: Cluster, page, tmp_path: Path
) -> None:
    expected = api(f"{cluster.urls[0]}/providers/{SYNTHETIC_PROVIDER}/takebacks?limit=500")["items"]
    target = expected[-1]
    base = f"{cluster.urls[1]}/providers/{SYNTHETIC_PROVIDER}"
    page.goto(f"{base}/takebacks/{target['event_id']}")
    assert "Nobody has acted on this takeback yet." in page.locator("#work").inner_text()
    assert_accessible_structure(page)
    page.evaluate("window.notReloaded = true")  # htmx swaps the section: the page itself stays

    # a wrong form says what is wrong beside the field, and records nothing
    page.fill("#dispute-filed_date", "2026-12-01")
    page.get_by_role("button", name="Record dispute").click()
    page.wait_for_selector("#dispute-reference_number-error")
    assert page.locator("#dispute-reference_number-error").inner_text() == "required"
    assert "Nobody has acted on this takeback yet." in page.locator("#work").inner_text()

    page.fill("#dispute-filed_date", "2026-12-01")
    page.fill("#dispute-reference_number", "APL-BROWSER-1")
    page.fill("#dispute-letter_date", "2026-11-20")
    page.get_by_role("button", name="Record dispute").click()
    expect(page.locator("#work table.history")).to_contain_text("APL-BROWSER-1")
    assert page.evaluate("window.notReloaded") is True
    work = page.locator("#work").inner_text()
    assert "disputed · reference APL-BROWSER-1" in work
    assert "local (you)" in work  # a dispute on unassigned work goes to whoever filed it
    assert "2026-11-20" in work  # the letter's date is day 1 of the deadlines now
    history = page.locator("#work table.history tbody tr")
    assert history.count() == 1
    assert history.first.locator("td").nth(1).inner_text() == "local"
    assert history.first.locator("td").nth(2).inner_text() == "disputed"
    page.fill("#note-text", "called the payer")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#work table.history tbody tr")).to_have_count(2)
    assert page.locator("#work table.history tbody tr td:nth-child(3)").all_inner_texts() == ["note", "disputed"]
    shot(page, tmp_path, "takeback-disputed")

    # "mine" on the worklist, from the other worker too
    page.goto(f"{cluster.urls[0]}/providers/{SYNTHETIC_PROVIDER}/view")
    page.select_option("#assignee", "mine")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**assignee=mine*")
    expect(page.locator("#worklist tbody tr")).to_have_count(1)
    assert page.locator(f"#worklist tbody a[href$='/takebacks/{target['event_id']}']").count() == 1
    page.goto(f"{cluster.urls[1]}/providers/{SYNTHETIC_PROVIDER}/view?dispute=disputed")
    assert page.locator("#worklist tbody tr").count() == 1
    # the API takes the same work filters (one WorklistFilter): "mine" is the caller, here the page's person
    listed = f"{cluster.urls[0]}/providers/{SYNTHETIC_PROVIDER}/takebacks"
    assert [t["event_id"] for t in api(f"{listed}?dispute=disputed")["items"]] == [target["event_id"]]
    assert [t["event_id"] for t in api(f"{listed}?assignee=mine")["items"]] == [target["event_id"]]
    assert api(f"{listed}?assignee=nobody")["total"] == len(expected) - 1

    # bulk: acknowledge two untouched rows at once, without a reload
    page.goto(f"{cluster.urls[0]}/providers/{SYNTHETIC_PROVIDER}/view?last_action=none")
    untouched = page.locator("#worklist tbody tr").count()
    assert untouched == len(expected) - 1
    page.evaluate("window.notReloaded = true")
    page.locator("#worklist tbody input[name=target]").nth(0).check()
    page.locator("#worklist tbody input[name=target]").nth(1).check()
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#worklist tbody tr")).to_have_count(untouched - 2)
    assert page.evaluate("window.notReloaded") is True
    acknowledged = api(f"{cluster.urls[0]}/actions/local")["items"] + api(f"{cluster.urls[1]}/actions/local")["items"]
    assert sorted(s["last_action"] for s in acknowledged if s["provider_id"] == SYNTHETIC_PROVIDER) == [
        "acknowledge",
        "acknowledge",
        "note",
    ]

    # the overview counts the takebacks nobody has touched
    page.goto(cluster.urls[0] + "/")
    headers = page.locator("#providers thead th").all_inner_texts()
    column = [h.strip() for h in headers].index("Untouched")
    row = page.locator("#providers tbody tr", has=page.locator(f"a[href='/providers/{SYNTHETIC_PROVIDER}/view']"))
    assert int(row.locator("td").nth(column).inner_text()) == len(expected) - 3

    # the JSON API acts on the same takeback (it checks the provider has it, as the page does)
    for url in cluster.urls:
        status, answer = post_json(
            f"{url}/takebacks/{target['event_id']}/actions",
            {"action_id": "api-posted", "provider_id": SYNTHETIC_PROVIDER, "what": {"kind": "posted"}},
        )
        assert status == 201, answer
    history = api(f"{cluster.urls[0]}/takebacks/{target['event_id']}/actions")["items"]
    assert [a["what"]["kind"] for a in history] == ["posted", "note", "dispute"]
    status, answer = post_json(
        f"{cluster.urls[0]}/takebacks/not-{target['event_id']}/actions",
        {"provider_id": SYNTHETIC_PROVIDER, "what": {"kind": "posted"}},
    )
    assert status == 404 and "has no takeback" in answer["error"]


def post_json(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
