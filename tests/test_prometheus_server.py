"""A real Prometheus server scrapes a worker while ERAs flow; its answers must agree with what was emitted.

/metrics is behind the API token: Prometheus sends it from a file, as deploy/prometheus/prometheus.yml does; a job
without it is refused (up = 0).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port, wait_for_port
from streams.inputs import expand_inputs
from streams.kafka_io import ensure_topics, file_payloads
from streams.processes import spawn_child, stop_child
from streams.runner import WorkerProcess, publish_and_collect
from streams.settings import Settings

pytestmark = pytest.mark.broker
TOKEN = "prom-" + uuid.uuid4().hex


def query(port: int, promql: str) -> float | None:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        result = json.loads(response.read())["data"]["result"]
    return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("Prometheus server not installed: run scripts/install-test-tools (Debian package prometheus)")
    return binary


def test_prometheus_counters_agree_with_the_pipeline_output(
    broker: EmbeddedBroker, corpus: Path, tmp_path: Path, prometheus_binary: str
) -> None:
    settings = Settings(
        broker=broker.url,
        topic_prefix=f"prom-{uuid.uuid4().hex[:8]}.",
        session_timeout=2.0,
        web_port=free_port(),
        data_dir=tmp_path / "state",
        api_token=TOKEN,
    )
    asyncio.run(ensure_topics(settings))
    prom_port = free_port()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    config = tmp_path / "prometheus.yml"
    target = f"static_configs: [{{targets: ['127.0.0.1:{settings.web_port}']}}]"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: takeback\n    {target}\n"
        f"    authorization: {{type: Bearer, credentials_file: '{token_file}'}}\n"
        f"  - job_name: no-token\n    {target}\n"
    )
    server = spawn_child(
        [
            prometheus_binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        death_signal=signal.SIGKILL,  # its data is a throwaway
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("wb"),
    )
    try:
        wait_for_port(prom_port, 30)
        with WorkerProcess(settings, tmp_path / "worker.log") as worker:
            payloads = file_payloads(expand_inputs([corpus]))
            _, results = asyncio.run(publish_and_collect(settings, worker, payloads, timeout=180))
            found = [t for t in results.takebacks.values() if not t.withdrawn]
            expected = {
                "sum(takeback_takebacks_total)": len(found),
                'sum(takeback_takebacks_total{kind="recoupment"})': sum(t.kind == "recoupment" for t in found),
                "sum(takeback_takeback_amount_dollars_total)": float(sum(t.amount for t in found)),
                "sum(takeback_dead_letters_total)": len(results.dead_letters),
                'sum(takeback_remittances_total{outcome="applied"})': results.outcomes.get("applied", 0),
                "sum(takeback_inputs_total)": len(results.ingested),
                'up{job="takeback"}': 1,
                'up{job="no-token"}': 0,
            }
            by_code = Counter(d.error_code for d in results.dead_letters)
            for code, count in by_code.items():
                expected[f'sum(takeback_dead_letters_total{{error_code="{code}"}})'] = count
            deadline = time.monotonic() + 30
            answers: dict[str, float | None] = {}
            while time.monotonic() < deadline:
                answers = {q: query(prom_port, q) for q in expected}
                if all(answers[q] is not None and abs(answers[q] - v) < 0.005 for q, v in expected.items()):
                    break
                time.sleep(1)
            assert answers == pytest.approx(expected), answers
            assert len(found) > 0 and len(results.dead_letters) > 0  # the comparison is about something
    finally:
        stop_child(server, grace=20)
