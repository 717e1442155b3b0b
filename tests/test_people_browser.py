"""People signing in, in a real browser (Debian's Chromium through Playwright) against a real worker (rules §12).

The worker has people (added with `takeback users add`, the password on stdin) and no token: pages need a sign-in.
Every page is checked for Content-Security-Policy violations (Chromium reports them on the console): htmx and the
pages run with no inline script or style.
"""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from streams.broker import EmbeddedBroker, free_port
from streams.kafka_io import ensure_topics, read_topic, topic_list
from streams.people import access_topic
from streams.runner import WorkerProcess
from streams.settings import Settings
from tests.test_pages_browser import browser, run_async  # noqa: F401  (browser: the module-scoped Chromium fixture)
from tests.test_people import takeback

pytestmark = pytest.mark.broker

PASSWORD = "pw-" + uuid.uuid4().hex
VIEWER_PASSWORD = "vw-" + uuid.uuid4().hex


@dataclass
class Site:
    url: str
    settings: Settings
    log: Path


@pytest.fixture(scope="module")
def site(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    work = tmp_path_factory.mktemp("people-browser")
    settings = Settings(
        broker=broker.url,
        topic_prefix=f"pb-{uuid.uuid4().hex[:8]}.",
        session_timeout=2.0,
        web_port=free_port(),
        log_level="debug",
        data_dir=work / "state",
    )
    run_async(ensure_topics(settings))
    for name, role, password in (
        ("ada", "admin", PASSWORD),
        ("bea", "biller", PASSWORD),
        ("wes", "biller", PASSWORD),
        ("val", "viewer", VIEWER_PASSWORD),
    ):
        added = takeback(settings, "users", "add", name, "--role", role, stdin=password + "\n")
        assert added.returncode == 0, added.stderr
    log = work / "worker.log"
    with WorkerProcess(settings, log) as worker:
        assert worker.wait_ready(timeout=90), worker.problem()
        yield Site(f"http://127.0.0.1:{settings.web_port}", settings, log)


@pytest.fixture
def context(browser) -> Iterator[object]:  # noqa: F811
    opened = browser.new_context()
    violations: list[str] = []
    opened.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    yield opened
    opened.close()
    assert violations == [], f"Content-Security-Policy violations: {violations}"


def sign_in(page, site: Site, name: str, password: str, path: str = "/") -> None:
    page.goto(site.url + path)
    assert "/signin" in page.url
    page.fill("#name", name)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in").click()


def test_a_biller_signs_in_and_sign_out_ends_the_session(site: Site, context, tmp_path: Path) -> None:
    page = context.new_page()
    sign_in(page, site, "bea", PASSWORD, "/deposits-without-era")
    page.wait_for_url("**/deposits-without-era")
    header = page.locator("header.site").inner_text()
    assert "bea (biller)" in header and "People" not in header  # a biller manages nobody
    (cookie,) = context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("takeback_session", True, "Lax")
    assert page.evaluate("document.cookie") == ""  # not readable by scripts
    assert page.locator(".demo-banner").count() == 0
    page.screenshot(path=str(tmp_path / "signed-in.png"))

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signin")
    # the old cookie, put back (as a thief who copied it would), no longer opens anything
    stolen = context.browser.new_context()
    try:
        stolen.add_cookies([cookie])
        again = stolen.new_page()
        again.goto(site.url + "/")
        assert "/signin" in again.url
    finally:
        stolen.close()


def test_five_wrong_passwords_lock_the_name(site: Site, context) -> None:
    page = context.new_page()
    for attempt in range(5):
        sign_in(page, site, "wes", f"wrong-{attempt}-{PASSWORD}")
        assert "do not match" in page.locator("main").inner_text()
    sign_in(page, site, "wes", PASSWORD)  # the right password, too late
    text = page.locator("main").inner_text()
    assert "Too many wrong passwords" in text and "/signin" in page.url
    # an admin's reset lifts the lock (and sets a new password)
    reset = takeback(site.settings, "users", "reset", "wes", stdin=PASSWORD + "-new\n")
    assert reset.returncode == 0, reset.stderr
    for _ in range(20):  # the worker hears of the reset through the access topic, within a fetch
        sign_in(page, site, "wes", PASSWORD + "-new")
        if page.url == site.url + "/":
            break
        page.wait_for_timeout(250)
    assert page.url == site.url + "/"


class EvilSite(http.server.BaseHTTPRequestHandler):
    """Another origin (another port: the same site for cookies) whose page posts the People form to the worker."""

    target = ""

    def do_GET(self) -> None:
        body = (
            f'<form id="f" method="post" action="{self.target}/admin/people">'
            '<input name="op" value="add"><input name="name" value="mallory"><input name="role" value="admin">'
            '<input name="password" value="mallory-password"><button id="go">go</button></form>'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_form_without_its_cross_site_token_is_refused(site: Site, context) -> None:
    page = context.new_page()
    sign_in(page, site, "ada", PASSWORD, "/admin/people")
    page.wait_for_url("**/admin/people")
    EvilSite.target = site.url
    server = http.server.HTTPServer(("127.0.0.1", 0), EvilSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        evil = context.new_page()
        evil.goto(f"http://127.0.0.1:{server.server_port}/")
        with evil.expect_navigation():
            evil.click("#go")
        assert "Refused" in evil.locator("body").inner_text()
    finally:
        server.shutdown()
    # the same page's own form (its token in a hidden field, htmx sending it as a header) works, without a reload
    page.fill("#new-name", "nina")
    page.select_option("#new-role", "viewer")
    page.fill("#new-password", PASSWORD)
    page.get_by_role("button", name="Add").click()
    page.locator("#people .notice").wait_for()
    assert "Added nina" in page.locator("#people").inner_text()
    listed = takeback(site.settings, "users", "list").stdout
    assert "nina\tviewer" in listed and "mallory" not in listed


def test_a_viewer_sees_no_admin_controls_and_a_forged_post_is_refused(site: Site, context) -> None:
    page = context.new_page()
    sign_in(page, site, "val", VIEWER_PASSWORD)
    page.wait_for_url(site.url + "/")
    assert page.get_by_role("link", name="People").count() == 0
    assert page.locator("form[action='/admin/people']").count() == 0
    token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    assert len(token) == 64
    status = page.evaluate(
        """token => fetch('/admin/people', {method: 'POST', headers: {'X-CSRF-Token': token,
            'Content-Type': 'application/x-www-form-urlencoded'},
            body: 'op=role&name=val&role=admin'}).then(r => r.status)""",
        token,
    )
    assert status == 403  # the viewer's own, valid cross-site token: the role refuses it
    answer = page.goto(site.url + "/admin/people")
    assert answer is not None and answer.status == 403
    assert "val\tviewer" in takeback(site.settings, "users", "list").stdout


def test_passwords_are_in_no_log_and_on_no_topic(site: Site) -> None:
    """Last: every password above was typed, right and wrong, and set through the page and the command."""
    topics = [*topic_list(site.settings), access_topic(site.settings)]
    for topic in topics:
        for value in run_async(read_topic(site.settings, topic, idle_seconds=0.3)):
            assert PASSWORD.encode() not in value and VIEWER_PASSWORD.encode() not in value, topic
    text = site.log.read_text(errors="replace")
    assert "[DEBUG]" in text and "Ready" in text, "the log is not the worker's whole debug log"
    assert PASSWORD not in text and VIEWER_PASSWORD not in text


SYNTHETIC = "synthetic_835_5010_plb_wo_fb_l6_72_j1_wu_reversals_denials.835"
SYNTHETIC_PROVIDER = "1234567893"  # its payee: WO, WU and claim reversals


def first_takeback_page(page, site: Site) -> str:
    """The provider's worklist, once the worker has applied the published ERA: the first takeback's page."""
    worklist = f"{site.url}/providers/{SYNTHETIC_PROVIDER}/view"
    for _ in range(60):
        page.goto(worklist)
        links = page.locator(f"#worklist tbody a[href*='/providers/{SYNTHETIC_PROVIDER}/takebacks/']")
        if links.count():
            return site.url + str(links.first.get_attribute("href"))
        page.wait_for_timeout(1000)
    raise AssertionError("the provider's takebacks never showed")


def test_a_signed_in_biller_acts_under_their_name_and_a_viewer_cannot(site: Site, context, browser, corpus) -> None:  # noqa: F811
    published = takeback(site.settings, "publish", str(corpus / SYNTHETIC))
    assert published.returncode == 0, published.stderr
    page = context.new_page()
    sign_in(page, site, "bea", PASSWORD)
    page.wait_for_url(site.url + "/")
    url = first_takeback_page(page, site)
    page.goto(url)
    page.fill("#dispute-filed_date", "2026-12-01")
    page.fill("#dispute-reference_number", "APL-BEA-1")
    page.get_by_role("button", name="Record dispute").click()  # htmx, with the session's cross-site token
    expect(page.locator("#work table.history")).to_contain_text("APL-BEA-1")
    history = page.locator("#work table.history tbody tr")
    assert history.first.locator("td").nth(1).inner_text() == "bea"  # the audit trail names the person
    page.goto(f"{site.url}/providers/{SYNTHETIC_PROVIDER}/view?assignee=mine")
    assert page.locator("#worklist tbody tr").count() == 1  # a dispute on unassigned work is the filer's

    viewer = browser.new_context()
    try:
        seen = viewer.new_page()
        sign_in(seen, site, "val", VIEWER_PASSWORD)
        seen.wait_for_url(site.url + "/")
        seen.goto(url)
        assert "APL-BEA-1" in seen.locator("#work").inner_text()  # a viewer reads the work
        assert seen.locator("form.action").count() == 0  # and is shown no action controls
        assert "needs the biller role" in seen.locator("#work").inner_text()
        # a forged POST, even with the viewer's own valid cross-site token, is refused
        token = seen.locator("input[name=csrf_token]").first.get_attribute("value")
        forged = viewer.request.post(
            url + "/act",
            form={"kind": "accept", "action_id": "forged-1", "csrf_token": token or ""},
            headers={"Origin": site.url},
            max_redirects=0,
        )
        assert forged.status == 403
        seen.goto(url)
        assert "accepted" not in seen.locator("#work table.history").inner_text()
        seen.goto(f"{site.url}/providers/{SYNTHETIC_PROVIDER}/view")
        assert seen.locator("#worklist tbody tr").count() > 0 and seen.locator("#bulk .bulk").count() == 0
    finally:
        viewer.close()
