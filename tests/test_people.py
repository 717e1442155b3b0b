"""People, sessions and the HTTP hardening of issue 24 (rules §12): the rules on their own, then a real worker.

The worker tests speak HTTP without a browser (tests/test_people_browser.py drives Chromium): security headers on
every kind of response, no Server header, /metrics behind the token, `next` kept local after sign-in, the session
cookie's attributes, sign-out, roles, the cross-site token, and `takeback users` reading passwords from stdin only.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.domain.access import (
    BadPerson,
    Failures,
    Person,
    SessionRecord,
    SigninLimit,
    hash_password,
    local_path,
    role_allows,
    verify_password,
)
from streams.kafka_io import ensure_topics, read_topic
from streams.people import access_topic
from streams.runner import WorkerProcess
from streams.security import SECURITY_HEADERS
from streams.settings import Settings, settings_to_env
from streams.sink.store import sink_topics

PASSWORD = "pw-" + uuid.uuid4().hex  # searched for in the worker's log and on the topic afterwards
TOKEN = "tok-" + uuid.uuid4().hex

# --------------------------------------------------------------------------- the rules on their own


@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example/",  # browsers drop the tab: //evil.example/
        "/\r\n/evil.example/",
        "/\n/evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/\\/evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
        "evil.example",
        "",
        None,
        "/ok\x7f",
    ],
)
def test_next_after_sign_in_must_be_a_local_path(target: str | None) -> None:
    assert local_path(target) == "/"


@pytest.mark.parametrize("target", ["/", "/providers/123/view?status=open&kind=reversal", "/admin/people"])
def test_a_local_path_is_followed(target: str) -> None:
    assert local_path(target) == target


def test_roles_are_ordered() -> None:
    assert role_allows("admin", "biller") and role_allows("biller", "biller") and role_allows("biller", "viewer")
    assert not role_allows("viewer", "biller") and not role_allows("biller", "admin")
    assert not role_allows("root", "viewer")


def test_passwords_are_hashed_with_argon2id_and_checked() -> None:
    hashed = hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert verify_password(hashed, PASSWORD)
    assert not verify_password(hashed, PASSWORD + "x")
    assert not verify_password(None, PASSWORD)  # an unknown person
    with pytest.raises(BadPerson) as short:
        hash_password("short")
    assert "short" not in str(short.value)  # error messages never quote a password


def test_sign_in_locks_after_five_wrong_passwords_and_the_lock_grows() -> None:
    limit = SigninLimit(free=5, base_seconds=60, max_seconds=3600)
    assert limit.locked_until(None) == 0
    assert limit.locked_until(Failures(4, 1000.0)) == 0
    assert limit.locked_until(Failures(5, 1000.0)) == 1060.0
    assert limit.locked_until(Failures(6, 1000.0)) == 1120.0
    assert limit.locked_until(Failures(20, 1000.0)) == 4600.0  # capped at an hour


def test_a_session_ends_when_idle_and_at_its_longest() -> None:
    session = SessionRecord("ann", created=0.0, last_seen=100.0)
    assert session.alive(now=100.0 + 1799, idle_seconds=1800, max_seconds=43200)
    assert not session.alive(now=100.0 + 1800, idle_seconds=1800, max_seconds=43200)
    busy = SessionRecord("ann", created=0.0, last_seen=43199.0)
    assert not busy.alive(now=43200.0, idle_seconds=1800, max_seconds=43200)


def test_records_round_trip() -> None:
    person = Person("ann", "biller", hash_password(PASSWORD), disabled=True, changed_at=5.0)
    assert Person.from_json(person.to_json()) == person
    assert SessionRecord.from_json(SessionRecord("", 1.0, 2.0).to_json()) == SessionRecord("", 1.0, 2.0)


# --------------------------------------------------------------------------- a real worker


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Browserless:
    """An HTTP client that keeps the session cookie and does not follow redirects (the tests read them).

    It sends the cookie over plain HTTP although it is marked Secure (the worker is told TLS ends at a proxy): a
    browser would not, which is the point of the flag, and is tested in tests/test_people_browser.py's worker.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = ""
        self.opener = urllib.request.build_opener(NoRedirect)

    def call(self, path: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Answer:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        sent = ({"Cookie": f"takeback_session={self.session}"} if self.session else {}) | (headers or {})
        request = urllib.request.Request(self.base + path, data=data, headers=sent)
        try:
            with self.opener.open(request, timeout=30) as response:
                answer = Answer(response.status, dict(response.headers), response.read().decode())
        except urllib.error.HTTPError as error:
            answer = Answer(error.code, dict(error.headers), error.read().decode(errors="replace"))
        found = re.match(r"takeback_session=([^;]*)", answer.headers.get("Set-Cookie", ""))
        if found:
            self.session = found.group(1).strip('"')
        return answer

    def csrf(self) -> str:
        page = self.call("/", headers={"Accept": "text/html"})
        (token,) = re.findall(r'"X-CSRF-Token": "([0-9a-f]+)"', page.body)
        return token


def takeback(settings: Settings, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, **settings_to_env(settings)}
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", *args], input=stdin, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def worker(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str, Path]]:
    work = tmp_path_factory.mktemp("people")
    settings = Settings(
        broker=broker.url,
        topic_prefix=f"people-{uuid.uuid4().hex[:8]}.",
        session_timeout=2.0,
        web_port=free_port(),
        api_token=TOKEN,
        cookie_secure=True,
        log_level="debug",
        data_dir=work / "state",
    )
    asyncio.run(ensure_topics(settings))
    for name, role in (("ann", "admin"), ("bill", "biller"), ("vic", "viewer")):
        added = takeback(settings, "users", "add", name, "--role", role, stdin=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
    log = work / "worker.log"
    with WorkerProcess(settings, log) as process:
        assert process.wait_ready(timeout=90), process.problem()
        yield settings, f"http://127.0.0.1:{settings.web_port}", log


@pytest.fixture(scope="module")
def second(worker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Another worker of the same app: it shares the partitions and reads the same access topic."""
    settings = worker[0]
    work = tmp_path_factory.mktemp("people-second")
    other = settings.with_overrides(web_port=free_port(), data_dir=work / "state")
    with WorkerProcess(other, work / "worker.log") as process:
        assert process.wait_ready(timeout=90), process.problem()
        yield f"http://127.0.0.1:{other.web_port}", work / "worker.log"


def wait_until(check, timeout: float = 30.0) -> None:
    """Until another worker has read what this one wrote on the access topic (a fetch, usually)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the other worker never saw the change"
        time.sleep(0.2)


def signed_in(base: str, name: str, password: str = PASSWORD) -> Browserless:
    client = Browserless(base)
    answer = client.call("/signin", {"name": name, "password": password, "next": "/"})
    assert answer.status == 303, answer.body
    return client


@pytest.mark.broker
def test_every_response_carries_the_security_headers_and_names_no_server(worker) -> None:
    _, base, _ = worker
    client = Browserless(base)
    answers = {
        "page": client.call("/signin"),
        "probe": client.call("/healthz"),
        "static": client.call("/static/takeback.css"),
        "redirect": client.call("/providers/1/view", headers={"Accept": "text/html"}),
        "json 401": client.call("/providers"),
        "unknown path": client.call("/no/such/thing", headers={"Authorization": f"Bearer {TOKEN}"}),
        "refused post": client.call("/signout", {}),
    }
    assert answers["redirect"].status == 303 and answers["json 401"].status == 401
    assert answers["unknown path"].status == 404 and answers["refused post"].status in (401, 403)
    for kind, answer in answers.items():
        for header, value in SECURITY_HEADERS.items():
            assert answer.headers.get(header) == value, (kind, header)
        assert "Server" not in answer.headers, (kind, answer.headers.get("Server"))
    assert "frame-ancestors 'none'" in SECURITY_HEADERS["Content-Security-Policy"]
    assert "unsafe-inline" not in SECURITY_HEADERS["Content-Security-Policy"]


@pytest.mark.broker
def test_metrics_need_the_token(worker) -> None:
    _, base, _ = worker
    client = Browserless(base)
    assert client.call("/metrics").status == 401
    answer = client.call("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status == 200 and "takeback_" in answer.body


@pytest.mark.broker
def test_sign_in_never_redirects_off_site(worker) -> None:
    _, base, _ = worker
    for target in ("/\t/evil.example/", "//evil.example/", "/\\evil.example/", "https://evil.example/"):
        client = Browserless(base)
        answer = client.call("/signin", {"name": "bill", "password": PASSWORD, "next": target})
        assert (answer.status, answer.headers["Location"]) == (303, "/"), target
    # the review's link: the form carries the query's `next` only once it is local
    form = Browserless(base).call("/signin?next=" + urllib.parse.quote("/\t/evil.example/", safe=""))
    assert 'name="next" value="/"' in form.body
    kept = Browserless(base).call("/signin?next=" + urllib.parse.quote("/providers/1/view?kind=reversal", safe=""))
    assert 'name="next" value="/providers/1/view?kind=reversal"' in kept.body


@pytest.mark.broker
def test_the_session_cookie_is_random_http_only_lax_and_secure_when_told(worker) -> None:
    _, base, _ = worker
    first, second = signed_in(base, "bill"), signed_in(base, "bill")
    answer = Browserless(base).call("/signin", {"name": "bill", "password": PASSWORD, "next": "/"})
    set_cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    assert "Secure" in set_cookie  # TAKEBACK_COOKIE_SECURE: TLS ends at a proxy in front of this plain-HTTP worker
    assert first.session != second.session  # no longer the same value for everyone
    assert len(first.session) >= 40 and TOKEN not in set_cookie


@pytest.mark.broker
def test_sign_out_ends_the_session_on_the_server(worker) -> None:
    _, base, _ = worker
    client = signed_in(base, "bill")
    assert client.call("/providers").status == 200
    stolen = client.session
    assert client.call("/signout", {"csrf_token": client.csrf()}).status == 303
    replayed = Browserless(base).call("/providers", headers={"Cookie": f"takeback_session={stolen}"})
    assert replayed.status == 401


@pytest.mark.broker
def test_changes_need_the_cross_site_token_and_the_role(worker) -> None:
    settings, base, _ = worker
    admin, viewer = signed_in(base, "ann"), signed_in(base, "vic")
    add = {"op": "add", "name": "newbie", "role": "viewer", "password": PASSWORD}
    assert admin.call("/admin/people", add).status == 403  # no cross-site token
    assert admin.call("/admin/people", add | {"csrf_token": "0" * 64}).status == 403
    assert admin.call("/admin/people", add, headers={"X-CSRF-Token": viewer.csrf()}).status == 403  # another's token
    assert "newbie" not in takeback(settings, "users", "list").stdout
    assert viewer.call("/admin/people").status == 403
    assert viewer.call("/admin/people", add | {"csrf_token": viewer.csrf()}).status == 403  # forged: a viewer
    assert "/admin/people" not in viewer.call("/", headers={"Accept": "text/html"}).body
    done = admin.call("/admin/people", add | {"csrf_token": admin.csrf()})
    assert done.status == 200 and "Added newbie" in done.body
    assert "newbie\tviewer\tactive" in takeback(settings, "users", "list").stdout
    # the machine token is for scripts: no cross-site token needed (a browser never sends it by itself)
    bearer = Browserless(base).call(
        "/admin/people", {"op": "disable", "name": "newbie"}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert bearer.status == 200 and "newbie is disabled" in bearer.body


@pytest.mark.broker
def test_a_disabled_person_or_a_reset_password_ends_their_sessions(worker) -> None:
    settings, base, _ = worker
    added = takeback(settings, "users", "add", "dora", "--role", "biller", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    client = signed_in(base, "dora")
    assert client.call("/providers").status == 200
    new_password = PASSWORD + "-2"
    reset = takeback(settings, "users", "reset", "dora", stdin=new_password + "\n")
    assert reset.returncode == 0 and new_password not in reset.stdout + reset.stderr
    assert client.call("/providers").status == 401
    assert Browserless(base).call("/signin", {"name": "dora", "password": PASSWORD}).status == 401
    again = signed_in(base, "dora", new_password)
    assert takeback(settings, "users", "disable", "dora").returncode == 0
    assert again.call("/providers").status == 401
    assert Browserless(base).call("/signin", {"name": "dora", "password": new_password}).status == 401


@pytest.mark.broker
def test_every_worker_knows_every_session_person_and_sign_out(worker, second) -> None:
    _, base, _ = worker
    other, _ = second
    client = signed_in(base, "bill")
    elsewhere = Browserless(other)
    elsewhere.session = client.session  # the same browser, its next request load-balanced to the other worker
    assert elsewhere.call("/providers").status == 200
    # a person added on one worker's People page signs in on the other
    admin = signed_in(base, "ann")
    added = admin.call(
        "/admin/people",
        {"op": "add", "name": "otto", "role": "viewer", "password": PASSWORD} | {"csrf_token": admin.csrf()},
    )
    assert added.status == 200 and "Added otto" in added.body
    wait_until(lambda: Browserless(other).call("/signin", {"name": "otto", "password": PASSWORD}).status == 303)
    # signed out on the first worker: the second refuses the cookie too
    assert client.call("/signout", {"csrf_token": client.csrf()}).status == 303
    wait_until(lambda: elsewhere.call("/providers").status == 401)


@pytest.mark.broker
def test_users_command_takes_passwords_from_stdin_only_and_lists_no_hashes(worker) -> None:
    settings, _, _ = worker
    listing = takeback(settings, "users", "list")
    assert listing.returncode == 0
    assert "ann\tadmin\tactive" in listing.stdout and "argon2" not in listing.stdout
    refused = takeback(settings, "users", "add", "eve", "--role", "admin", "--password", PASSWORD)
    assert refused.returncode != 0 and "--password" in refused.stderr  # no such argument exists
    short = takeback(settings, "users", "add", "eve", stdin="short\n")
    assert short.returncode == 1 and "short" not in short.stderr.replace("a password has", "")


@pytest.mark.broker
def test_passwords_are_in_no_log_and_on_no_topic(worker, second) -> None:
    """Run last in this module: by now every test above has typed the password, right and wrong."""
    settings, base, log = worker
    assert PASSWORD not in second[1].read_text(errors="replace")
    Browserless(base).call("/signin", {"name": "ann", "password": PASSWORD + "-wrong"})
    assert access_topic(settings) not in sink_topics(settings.topic_names)  # the sink never reads people
    wrong = Browserless(base).call("/signin", {"name": "ann", "password": PASSWORD + "-typo"})
    assert wrong.status == 401 and PASSWORD not in wrong.body  # the error page does not echo it
    values = asyncio.run(read_topic(settings, access_topic(settings), idle_seconds=0.5))
    assert any(b"$argon2id$" in v for v in values), "the people are not on the topic"
    assert not any(PASSWORD.encode() in v for v in values)
    text = log.read_text(errors="replace")
    assert "Starting" in text and "[DEBUG]" in text, "the log is not the worker's whole debug log"
    assert PASSWORD not in text
