"""POST /eras, POST /bank-files and GET /inputs/{id} over real HTTP, against a running worker on the test broker:
a retried request publishes once (counted on the raw topics), an oversized body is a 413 without being read, no
token off loopback is a 401, and the status follows the input through the pipeline."""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.kafka_io import ensure_topics
from streams.runner import WorkerProcess
from streams.settings import Settings
from tests.test_pages_browser import non_loopback_address
from tests.test_watch import aged, published_ids, raw_source_ids, watch_once

pytestmark = pytest.mark.broker

TOKEN = "feed-" + uuid.uuid4().hex[:8]
LIMIT = 1_000_000  # TAKEBACK_FEED_MAX_BYTES of the test worker
ERA = "edi835parser_835_5010_minimal_single_claim.835"
BANK = "moov_ccd_debit_vendor_pay.ach"


@dataclass
class Feed:
    settings: Settings
    url: str  # on loopback
    outside: str | None  # the same worker at a non-loopback address, when the machine has one


@pytest.fixture(scope="module")
def feed(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Feed]:
    import asyncio

    work = tmp_path_factory.mktemp("feed")
    address = non_loopback_address()
    port = free_port()
    settings = Settings(
        broker=broker.url,
        topic_prefix=f"feed-{uuid.uuid4().hex[:8]}.",
        session_timeout=2.0,
        web_host="0.0.0.0" if address else "127.0.0.1",
        web_port=port,
        canonical_url=f"http://127.0.0.1:{port}",
        api_token=TOKEN,
        feed_max_bytes=LIMIT,
        data_dir=work / "state",
    )
    asyncio.run(ensure_topics(settings))
    with WorkerProcess(settings, work / "worker.log") as worker:
        assert worker.wait_ready(timeout=60), f"the worker never became ready: {worker.problem() or 'joining'}"
        yield Feed(settings, f"http://127.0.0.1:{port}", f"http://{address}:{port}" if address else None)


def call(
    method: str, url: str, body: bytes | None = None, *, token: str | None = TOKEN, headers: dict | None = None
) -> tuple[int, dict]:
    sent = {**(headers or {}), **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=body, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def status_when_done(feed: Feed, input_id: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        code, body = call("GET", f"{feed.url}/inputs/{input_id}")
        assert code == 200, body
        if body["status"] != "pending":
            return body
        time.sleep(0.3)
    raise AssertionError(f"input {input_id} still pending")


def test_the_same_file_posted_three_times_with_one_key_is_one_input(feed: Feed, corpus: Path) -> None:
    era = (corpus / ERA).read_bytes()
    key = {"Idempotency-Key": f"clearinghouse-{uuid.uuid4().hex}"}
    answers = [call("POST", f"{feed.url}/eras?name=era-1.835", era, headers=key) for _ in range(3)]
    assert [code for code, _ in answers] == [202, 202, 202]
    ids = {body["input_id"] for _, body in answers}
    assert len(ids) == 1
    (input_id,) = ids
    assert answers[0][1]["location"] == f"/inputs/{input_id}"
    assert raw_source_ids(feed.settings)[input_id] == 1  # published once

    status = status_when_done(feed, input_id)
    assert status["status"] == "ingested" and status["file"] == "era-1.835"
    assert status["remittances"] == 1 and status["dead_letters"] == []

    # The same key with another body is a client error, not a second input.
    code, body = call("POST", f"{feed.url}/eras", era.replace(b"~", b"~\n"), headers=key)
    assert code == 409 and "another body" in body["error"]
    # Without a key, the body's hash is the key: a retry publishes once as well.
    first = call("POST", f"{feed.url}/eras", era.replace(b"~", b"~\r\n"))
    again = call("POST", f"{feed.url}/eras", era.replace(b"~", b"~\r\n"))
    assert first[0] == again[0] == 202 and first[1]["input_id"] == again[1]["input_id"]
    assert raw_source_ids(feed.settings)[first[1]["input_id"]] == 1


def test_a_bank_file_goes_to_bank_files_and_a_broken_era_is_dead_lettered_with_its_reason(
    feed: Feed, corpus: Path
) -> None:
    bank = (corpus.parent / "bank" / BANK).read_bytes()
    code, body = call("POST", f"{feed.url}/eras", bank)
    assert code == 400 and "/bank-files" in body["error"]
    code, body = call("POST", f"{feed.url}/bank-files", bank)
    assert code == 202
    assert status_when_done(feed, body["input_id"])["status"] == "ingested"
    code, body = call("POST", f"{feed.url}/bank-files", (corpus / ERA).read_bytes())
    assert code == 400

    # An ERA whose payment does not add up to its claims (BPR02 changed): a dead letter, named in the status.
    era = (corpus / ERA).read_bytes().decode("latin-1")
    bpr = next(s for s in era.split("~") if s.strip().startswith("BPR"))
    fields = bpr.split("*")
    fields[2] = f"{float(fields[2]) + 1000:.2f}"
    broken = era.replace(bpr, "*".join(fields)).encode("latin-1")
    code, body = call("POST", f"{feed.url}/eras?name=broken.835", broken)
    assert code == 202
    status = status_when_done(feed, body["input_id"])
    assert status["status"] == "dead_lettered"
    (letter,) = status["dead_letters"]
    assert letter["error_code"] and letter["message"]

    assert call("GET", f"{feed.url}/inputs/http-{'0' * 24}")[0] == 404
    code, document = call("GET", f"{feed.url}/openapi.json")
    assert code == 200 and {"/eras", "/bank-files", "/inputs/{input_id}"} <= set(document["paths"])
    assert "413" in document["paths"]["/eras"]["post"]["responses"]


def raw_exchange(url: str, head: str, body: bytes = b"") -> tuple[str, dict]:
    """Send a request's head (and `body`) on a socket; the response's status line and JSON body. The worker may
    answer and close before the body is all sent: that is the point."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            sock.sendall(head.encode())
            for start in range(0, len(body), 64 * 1024):
                sock.sendall(body[start : start + 64 * 1024])
        except (BrokenPipeError, ConnectionResetError):
            pass
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            head_part, _, rest = received.partition(b"\r\n\r\n")
            length = re.search(rb"Content-Length: (\d+)", head_part, flags=re.IGNORECASE)
            if length and len(rest) >= int(length[1]):
                break
    head_part, _, rest = received.partition(b"\r\n\r\n")
    return head_part.split(b"\r\n")[0].decode(), json.loads(rest or b"{}")


def test_a_body_over_the_limit_is_a_413_without_being_read(feed: Feed) -> None:
    # 100 MB announced, not one byte of it sent: the answer comes anyway, so the worker read none of it.
    head = (
        f"POST /eras HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {100 * 1024 * 1024}\r\n\r\n"
    )
    status, answer = raw_exchange(feed.url, head)
    assert status.startswith("HTTP/1.1 413"), status
    assert answer["error"] == (
        f"the body is {100 * 1024 * 1024:,} bytes; the limit is {LIMIT:,} bytes (TAKEBACK_FEED_MAX_BYTES)"
    )
    # Chunked, with no length announced: given up as soon as it passes the limit.
    chunk = b"ISA" + b"x" * (256 * 1024 - 3)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(LIMIT // len(chunk) + 2)) + b"0\r\n\r\n"
    head = f"POST /eras HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, answer = raw_exchange(feed.url, head, chunks)
    assert status.startswith("HTTP/1.1 413"), status
    assert "larger than that; the limit is" in answer["error"]


def test_off_loopback_a_post_needs_the_token(feed: Feed, corpus: Path) -> None:
    if feed.outside is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    era = (corpus / ERA).read_bytes()
    assert call("POST", f"{feed.outside}/eras", era, token=None)[0] == 401
    assert call("POST", f"{feed.outside}/eras", era, token="wrong")[0] == 401
    assert call("GET", f"{feed.outside}/inputs/http-{'0' * 24}", token=None)[0] == 401
    assert call("POST", f"{feed.outside}/eras", era)[0] == 202


def test_the_status_of_a_watched_folders_input(feed: Feed, corpus: Path, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    aged(Path(shutil.copy(corpus / ERA, folder / "watched.835")))
    watch_once(feed.settings, folder)
    (input_id,) = published_ids(folder).values()
    status = status_when_done(feed, input_id)  # not published by this worker: read from the topics' start
    assert (status["status"], status["file"], status["remittances"]) == ("ingested", "watched.835", 1)
