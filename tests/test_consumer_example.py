"""examples/consumer.py, the starting point for other teams, run as they would run it against a replay."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.inputs import expand_inputs
from streams.runner import feed_and_collect, isolated, running_pipeline, write_replay_output
from streams.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "consumer.py"


@pytest.mark.broker
def test_the_consumer_example_keeps_what_replay_reports(broker: EmbeddedBroker, corpus: Path, tmp_path: Path) -> None:
    live = isolated(Settings(broker=broker.url, session_timeout=2.0)).with_overrides(data_dir=tmp_path)
    out = tmp_path / "replay"
    with running_pipeline(live, live.broker, tmp_path) as pipeline:
        results = asyncio.run(feed_and_collect(pipeline, expand_inputs([corpus]), timeout=300, progress=False))
    write_replay_output(results, out)
    db = tmp_path / "takebacks.sqlite"
    command = [sys.executable, str(EXAMPLE), "--broker", live.bootstrap_servers, "--prefix", live.topic_prefix]
    run = subprocess.run([*command, "--db", str(db), "--idle-exit", "3"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT document FROM takebacks WHERE withdrawn = 0").fetchall()
    kept = sorted((json.loads(row[0]) for row in rows), key=lambda t: t["event_id"])
    reported = sorted(map(json.loads, (out / "takebacks.jsonl").read_text().splitlines()), key=lambda t: t["event_id"])
    assert kept and kept == reported
