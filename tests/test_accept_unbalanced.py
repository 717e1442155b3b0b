"""Accepting an unbalanced remittance (rules §7), through a real broker and worker: it is a dead letter until a
person runs `takeback dead-letters replay --accept ID`; then it is applied, flagged, and its difference is booked
as `unexplained`, so the cash invariant still holds."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from schemas import NetCashRow
from streams.broker import EmbeddedBroker
from streams.domain.cash import invariant_holds
from streams.kafka_io import ensure_topics, read_topic
from streams.runner import WorkerProcess, isolated, publish_and_collect
from streams.settings import Settings, settings_to_env

pytestmark = pytest.mark.broker

SCENARIO = Path(__file__).resolve().parent / "scenarios" / "33_reissued_era_payer_address_changed"
PROVIDER = "1000000335"


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "streams.cli", "dead-letters", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def latest_row(settings: Settings) -> NetCashRow | None:
    rows = [NetCashRow.model_validate_json(v) for v in asyncio.run(read_topic(settings, settings.topic_names.net_cash))]
    mine = [row for row in rows if row.provider_id == PROVIDER]
    return max(mine, key=lambda row: row.revision, default=None)


def wait_for_row(settings: Settings, condition, what: str) -> NetCashRow:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        row = latest_row(settings)
        if row is not None and condition(row):
            return row
        time.sleep(0.5)
    pytest.fail(f"no cash row {what}: last {latest_row(settings)}")


def test_an_unbalanced_remittance_is_applied_only_after_a_person_accepts_it(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    settings = isolated(Settings(broker=broker.url))  # its own topics, group and state
    asyncio.run(ensure_topics(settings))
    original = (SCENARIO / "01_original.835").read_bytes()  # pays PCN3301 200.00
    takeback = (SCENARIO / "02_takeback.835").read_bytes()  # BPR02 230.00 = 430.00 - 200.00
    unbalanced = takeback.replace(b"BPR*I*230*", b"BPR*I*240*", 1)  # 10.00 the claims do not explain
    env = {**os.environ, **settings_to_env(settings)}
    with WorkerProcess(settings, tmp_path / "worker.log") as worker:
        inputs = [("original.835", original), ("unbalanced.835", unbalanced)]
        _, results = asyncio.run(publish_and_collect(settings, worker, inputs, timeout=120))
        (letter,) = results.dead_letters
        assert letter.error_code == "unbalanced_remittance" and "difference 10.00" in letter.message

        # a plain replay is rejected again: nothing is accepted without --accept
        assert cli(env, "replay", "--id", letter.dead_letter_id).returncode == 0
        for _ in range(40):
            listed = [json.loads(line) for line in cli(env, "list", "--json").stdout.splitlines() if line]
            if len(listed) == 2:
                break
            time.sleep(0.5)
        assert {d["error_code"] for d in listed} == {"unbalanced_remittance"} and len(listed) == 2
        assert latest_row(settings).net_cash == Decimal("200")

        refused = cli(env, "replay", "--accept", "no-such-dead-letter")
        assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
        assert "no dead letter no-such-dead-letter" in refused.stderr

        accepted = cli(env, "replay", "--accept", letter.dead_letter_id)
        assert accepted.returncode == 0, accepted.stderr
        row = wait_for_row(settings, lambda r: r.unexplained != 0, "with the accepted difference")
        assert (row.net_cash, row.claim_payments, row.recouped) == (Decimal("440"), Decimal("630"), Decimal("200"))
        assert row.unexplained == Decimal("10") and row.flags.get("accepted_unbalanced") == 1
        assert invariant_holds(row) and all(invariant_holds(p) for p in row.by_payer)
        assert worker.problem() is None

    remittances = [json.loads(v) for v in asyncio.run(read_topic(settings, settings.topic_names.remittances))]
    flagged = [r for r in remittances if "accepted_unbalanced" in (r.get("flags") or [])]
    assert [r["trace_number"] for r in flagged] == ["EFT3302"]
