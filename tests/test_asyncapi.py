"""schemas/asyncapi.yaml: current, valid for the AsyncAPI project's own parser, and the same topics as the code."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from schemas import EVENT_TYPES
from schemas.export import SCHEMA_DIR
from streams.app import create_app
from streams.asyncapi import CHANNELS, DOCUMENT_PATH, MESSAGES, build_document, load_examples, render
from streams.cloudevents import event_id, event_subject, event_type
from streams.kafka_io import topic_list
from streams.settings import Settings, TopicNames

ROOT = Path(__file__).resolve().parents[1]
PARSER = ROOT / ".tools" / "node_modules" / "@asyncapi" / "parser"
VALIDATE = ROOT / "tests" / "support" / "validate_asyncapi.cjs"


def document() -> dict:
    return yaml.safe_load(DOCUMENT_PATH.read_text())


def test_the_document_is_current() -> None:
    expected = render(build_document(load_examples()))
    assert DOCUMENT_PATH.read_text() == expected, "run `python -m streams.asyncapi` and commit schemas/asyncapi.yaml"


# --------------------------------------------------------------------------- the AsyncAPI parser


def parse(path: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the AsyncAPI parser is a Node.js package")
    if not PARSER.exists():
        pytest.skip("@asyncapi/parser is not installed in .tools/: run scripts/install-test-tools (needs npm)")
    return subprocess.run([node, str(VALIDATE), str(PARSER), str(path)], capture_output=True, text=True, timeout=120)


def test_the_asyncapi_parser_accepts_the_document() -> None:
    result = parse(DOCUMENT_PATH)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"ok":true' in result.stdout


def test_the_asyncapi_parser_refuses_a_broken_document() -> None:
    """The check can fail: a payload that points at no schema, an operation on a channel that does not exist."""
    broken = document()
    broken["components"]["messages"]["takeback"]["payload"]["$ref"] = "./json/no_such.schema.json"
    del broken["channels"]["eraRaw"]
    path = DOCUMENT_PATH.parent / ".broken-asyncapi.yaml"  # beside the original, so relative $refs resolve alike
    try:
        path.write_text(yaml.safe_dump(broken))
        result = parse(path)
    finally:
        path.unlink(missing_ok=True)
    assert result.returncode == 1
    assert "no_such.schema.json" in result.stdout
    assert "'#/channels/eraRaw' does not exist" in result.stdout


# --------------------------------------------------------------------------- the document against the code


def topics_in_document(settings: Settings) -> set[str]:
    values = {"prefix": settings.topic_prefix, "applicationId": settings.application_id}
    return {re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], c["address"]) for c in document()["channels"].values()}


def topics_the_app_creates(settings: Settings) -> set[str]:
    takeback = create_app(settings)
    app = takeback.app
    assert app.conf.id == settings.application_id
    declared = {topic.get_topic_name() for topic in vars(takeback.topics).values()}
    assert set(topic_list(settings)) == declared, "kafka_io.topic_list and the app's topics differ"
    return declared | set(app.tables.changelog_topics) | {app._leader_assignor._leader_topic_name}


@pytest.mark.parametrize(
    "settings",
    [Settings(web_enabled=False), Settings(web_enabled=False, app_id="billing", topic_prefix="acme.")],
    ids=["default", "prefixed"],
)
def test_every_topic_the_app_creates_is_in_the_document_and_back(settings: Settings) -> None:
    assert topics_in_document(settings) == topics_the_app_creates(settings)


def test_every_topic_setting_has_a_channel() -> None:
    assert {f.name for f in fields(TopicNames)} <= {c.topic for c in CHANNELS}


def test_payloads_refer_to_the_exported_schemas() -> None:
    for message in document()["components"]["messages"].values():
        ref = message["payload"].get("$ref")
        if ref is not None:
            assert (DOCUMENT_PATH.parent / ref).resolve().parent == SCHEMA_DIR
            assert (DOCUMENT_PATH.parent / ref).exists(), ref


def test_examples_are_real_events_with_their_cloudevents_headers() -> None:
    examples = load_examples()
    events = {m.id: m.event for m in MESSAGES if m.event is not None}
    assert set(events) <= set(examples), "every event message has a captured example"
    for message_id, name in events.items():
        for example in examples[message_id]:
            event = EVENT_TYPES[name].model_validate(example["payload"])
            headers = example["headers"]
            assert headers["ce_specversion"] == "1.0"
            assert headers["ce_type"] == event_type(name)
            assert headers["ce_id"] == event_id(event)
            assert headers.get("ce_subject") == event_subject(event)
            assert headers["content-type"] == "application/json"
            assert headers["ce_source"].startswith("/takeback/")
