"""The actions API (rules §12) on two real workers with no ERAs: post, read back newest first, one action per id,
the same errors a person gets, any worker answering for any target, and the OpenAPI document. Acting on a takeback
that exists is tested with the pages' cluster (tests/test_pages_browser.py), which has takebacks."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from streams.broker import EmbeddedBroker
from tests.support.workers import Workers, ready_workers

pytestmark = pytest.mark.broker

DISPUTE = {"kind": "dispute", "filed_date": "2026-12-01", "reference_number": "APL-9", "letter_date": "2026-11-20"}


@pytest.fixture(scope="module")
def workers(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    with ready_workers(broker.url, "actions-api", tmp_path_factory.mktemp("actions-api")) as running:
        yield running


def call(url: str, body: object | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_action_is_applied_and_read_back_newest_first_from_any_worker(workers: Workers) -> None:
    first, second = workers.urls
    status, answer = call(
        f"{first}/deposit-items/dep-api-1/actions", {"action_id": "api-1", "provider_id": "1234567893", "what": DISPUTE}
    )
    assert status == 201, answer
    assert answer["status"] == "applied"
    assert answer["state"]["dispute_state"] == "disputed" and answer["state"]["letter_date"] == "2026-11-20"
    assert answer["action"]["actor"] == "local"  # a loopback request without a token: the demo's person
    status, answer = call(
        f"{second}/deposit-items/dep-api-1/actions",
        {"provider_id": "1234567893", "what": {"kind": "note", "text": "called"}},
        {"Idempotency-Key": "api-2"},
    )
    assert status == 201, answer
    status, history = call(f"{second}/deposit-items/dep-api-1/actions")
    assert status == 200
    assert [a["action_id"] for a in history["items"]] == ["api-2", "api-1"]
    assert history["state"]["last_action"] == "note" and history["state"]["assignee"] == "local"
    _, same = call(f"{first}/deposit-items/dep-api-1/actions")
    assert same == history


def test_the_same_action_id_twice_acts_once(workers: Workers) -> None:
    url = f"{workers.urls[0]}/deposit-items/dep-api-2/actions"
    for _ in range(3):  # a double-clicked form, a retried request
        status, answer = call(url, {"action_id": "api-twice", "provider_id": "1", "what": {"kind": "acknowledge"}})
        assert status == 201, answer
    _, history = call(url)
    assert [a["action_id"] for a in history["items"]] == ["api-twice"]
    assert history["state"]["target_kind"] == "deposit_item"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"what": {"kind": "dispute", "filed_date": "2026-12-01"}}, {"reference_number": "required"}),
        (
            {"what": {"kind": "refund_sent", "check_number": "7", "amount": "0", "sent_date": "2026-12-01"}},
            {"amount": "must be more than 0"},
        ),
        (
            {"what": {**DISPUTE, "letter_date": "2026-12-09"}},
            {"letter_date": "the payer's letter cannot be dated after the date filed"},
        ),
        ({"what": {"kind": "explode"}}, None),
        ({"nothing": 1}, {"what": "required (an object)"}),
    ],
)
def test_a_wrong_action_is_a_422_naming_each_field(workers: Workers, body: dict, errors: dict | None) -> None:
    status, answer = call(f"{workers.urls[1]}/deposit-items/dep-1/actions", body)
    assert status == 422
    if errors is not None:
        assert answer["errors"] == errors
    else:
        assert set(answer["errors"]) == {"kind"}
    _, history = call(f"{workers.urls[1]}/deposit-items/dep-1/actions")
    assert history["items"] == []


def test_an_action_on_a_takeback_names_its_provider(workers: Workers) -> None:
    status, answer = call(f"{workers.urls[0]}/takebacks/tb-api-3/actions", {"what": {"kind": "acknowledge"}})
    assert status == 422 and set(answer["errors"]) == {"provider_id"}


def test_an_action_on_a_takeback_nobody_has_seen_is_a_404(workers: Workers) -> None:
    body = {"provider_id": "1234567893", "what": {"kind": "acknowledge"}}
    for segment in ("takebacks", "carried-balances"):
        status, answer = call(f"{workers.urls[1]}/{segment}/no-such-takeback/actions", body)
        assert status == 404 and "no takeback no-such-takeback" in answer["error"]
        _, history = call(f"{workers.urls[1]}/{segment}/no-such-takeback/actions")
        assert history["items"] == []


def test_the_openapi_document_describes_the_actions(workers: Workers) -> None:
    with urllib.request.urlopen(f"{workers.urls[0]}/openapi.json", timeout=10) as response:
        document = json.loads(response.read())
    for segment in ("takebacks", "carried-balances", "deposit-items"):
        path = document["paths"][f"/{segment}/{{target_id}}/actions"]
        assert {"get", "post"} <= set(path)
        assert "422" in path["post"]["responses"]
    assert "Action" in document["components"]["schemas"]
