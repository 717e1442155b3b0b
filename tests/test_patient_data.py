"""Patient data (PHI) stays out of logs, metrics, messages and events, with debug logging on."""

from __future__ import annotations

import asyncio
import re
import urllib.request
import uuid
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.domain.x12 import read_835
from streams.inputs import expand_inputs
from streams.kafka_io import ensure_topics, file_payloads
from streams.runner import WorkerProcess, publish_and_collect
from streams.settings import Settings

pytestmark = pytest.mark.broker


def patient_identifiers(corpus: Path) -> set[str]:
    """Last names, first names and member ids of every NM1*QC/IL segment in the corpus, read independently.

    Sample files reuse numbers: '987654321' is a member id in one file and a provider TIN in others. Values that
    also stand in a non-NM1 segment (provider, payer, trace ids) are business identifiers, not patient data.
    """
    found: set[str] = set()
    business: set[str] = set()
    for path in expand_inputs([corpus]):
        text = path.read_bytes().decode("latin-1")
        for segment in re.split(r"[~\r\n]+", text):
            if not segment.strip().startswith("NM1"):
                business.update(re.split(r"[*|:^>]", segment))
        for match in re.finditer(r"NM1([*|])(QC|IL)\1", text):
            separator = match.group(1)
            elements = re.split(r"[~\r\n]", text[match.start() : match.start() + 300])[0].split(separator)
            for index in (3, 4, 9):
                if index < len(elements):
                    value = elements[index].strip()
                    if len(value) >= 4 and not re.fullmatch(r"[X9]+", value):  # masked placeholders say nothing
                        found.add(value)
    return found - business


def test_no_patient_identifier_reaches_logs_metrics_or_events(
    broker: EmbeddedBroker, corpus: Path, tmp_path: Path
) -> None:
    identifiers = patient_identifiers(corpus)
    assert {"Flintstone", "Rubble"} <= identifiers and len(identifiers) > 30  # the search is real

    settings = Settings(
        broker=broker.url,
        topic_prefix=f"phi-{uuid.uuid4().hex[:8]}.",
        session_timeout=2.0,
        log_level="debug",
        web_port=free_port(),
        data_dir=tmp_path / "state",
    )
    asyncio.run(ensure_topics(settings))
    log = tmp_path / "worker.log"
    with WorkerProcess(settings, log) as worker:
        payloads = file_payloads(expand_inputs([corpus]))
        _, results = asyncio.run(publish_and_collect(settings, worker, payloads, timeout=180))
        with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=10) as response:
            metrics = response.read().decode()

    logged = log.read_text(errors="replace")
    assert "DEBUG" in logged  # debug logging really was on
    events = "\n".join(
        [t.model_dump_json() for t in results.takebacks.values()]
        + [r.model_dump_json() for r in results.net_cash.values()]
        + [d.model_dump_json(exclude={"raw"}) for d in results.dead_letters]  # raw input is the fix-and-replay copy
    )
    for place, text in (("worker log", logged), ("metrics", metrics), ("events", events)):
        leaked = sorted(i for i in identifiers if re.search(rf"(?<![0-9A-Za-z]){re.escape(i)}(?![0-9A-Za-z])", text))
        assert not leaked, f"patient identifiers in the {place}: {len(leaked)}"


def test_patient_fields_are_redacted_unless_turned_on(corpus: Path) -> None:
    data = (corpus / "lfh_835_5010_cob_contractual_adjustment.835").read_bytes()
    hidden = read_835(data).remittances[0]
    assert all(c.patient is None for c in hidden.claims)
    assert "BURCK" not in hidden.model_dump_json()
    shown = read_835(data, include_patient_data=True).remittances[0]
    assert shown.claims[0].patient is not None and shown.claims[0].patient.last_name == "BURCK"
