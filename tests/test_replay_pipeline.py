"""`takeback replay` end to end, through a real broker and a real worker process."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.domain.offline import process_files
from tests.support.builders import claim, plb, remittance
from tests.support.era_mix import era_stream

pytestmark = pytest.mark.broker


def replay(
    inputs: list[Path], out: Path, broker: EmbeddedBroker | None, timeout: int = 300
) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "streams.cli", "replay", *map(str, inputs), "--out", str(out)]
    if broker is not None:
        command += ["--broker", broker.bootstrap]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def read_outputs(out: Path) -> tuple[list[dict], list[dict], list[dict]]:
    takebacks = [json.loads(line) for line in (out / "takebacks.jsonl").read_text().splitlines()]
    net_cash = json.loads((out / "net_cash.json").read_text())
    dead = [json.loads(line) for line in (out / "dead_letters.jsonl").read_text().splitlines()]
    return takebacks, net_cash, dead


def write_events(tmp_path: Path) -> list[Path]:
    original = remittance("CHK100", "2026-01-10", [claim("PCN1", "1", "100.00", pcn="ICN1")])
    later = remittance(
        "EFT200",
        "2026-02-01",
        [
            claim("PCN1", "22", "-100.00", pcn="ICN1"),
            claim("PCN1", "1", "80.00", f8="ICN1", cas=[("CO", "18", "20")]),
            claim("PCN2", "1", "50.00", pcn="ICN2"),
        ],
        [plb("L6", "-2.00")],
    )
    files = []
    for index, item in enumerate([original, later, later]):  # the last one is a re-send: a duplicate
        path = tmp_path / "in" / f"{index:02d}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(item.model_dump_json())
        files.append(path)
    bad = tmp_path / "in" / "03-bad.json"
    bad.write_text('{"remittance_id": 5}')
    return [*files, bad]


def test_replay_of_json_remittances_links_the_takeback_and_keeps_cash_balanced(
    tmp_path: Path, broker: EmbeddedBroker
) -> None:
    out = tmp_path / "out"
    result = replay(write_events(tmp_path), out, broker)
    assert result.returncode == 0, result.stderr
    takebacks, net_cash, dead = read_outputs(out)

    assert len(takebacks) == 1
    t = takebacks[0]
    assert t["kind"] == "recoupment" and t["method"] == "offset"
    assert t["amount"] == "100.00"
    assert t["original_trace_number"] == "CHK100" and t["trace_number"] == "EFT200"
    assert t["reason_category"] == "duplicate"
    assert t["net_change"] == "-20.00"

    (row,) = net_cash
    money = {
        k: Decimal(v) for k, v in row.items() if k in ("net_cash", "claim_payments", "recouped", "other_adjustments")
    }
    # BPR02 100.00, then -100 + 80 + 50 - (-2.00 interest) = 32.00; the re-sent copy is not counted again
    assert money == {
        "net_cash": Decimal("132.00"),
        "claim_payments": Decimal("230.00"),
        "recouped": Decimal("100.00"),
        "other_adjustments": Decimal("2.00"),
    }
    assert Decimal(row["net_cash"]) == (
        Decimal(row["claim_payments"])
        - Decimal(row["reversed"])
        - Decimal(row["recouped"])
        + Decimal(row["forward_balance"])
        + Decimal(row["refunds"])
        + Decimal(row["other_adjustments"])
    )

    assert [d["error_code"] for d in dead] == ["invalid_event"]
    assert dead[0]["source"]["file"] == "03-bad.json"


def test_replay_fails_with_one_line_for_a_missing_input(tmp_path: Path) -> None:
    result = replay([tmp_path / "nope.835"], tmp_path / "out", None, timeout=60)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "nope.835" in result.stderr


def test_a_shuffled_backfill_replays_to_the_same_results_as_the_files_in_time_order(
    tmp_path: Path, broker: EmbeddedBroker
) -> None:
    files = list(era_stream(1_500, providers=4))
    shuffled = files[:]
    random.Random(3).shuffle(shuffled)
    in_order, backfill = tmp_path / "in-order", tmp_path / "backfill"
    for directory, listing in ((in_order, files), (backfill, shuffled)):
        directory.mkdir()
        for index, (name, data) in enumerate(listing):  # names that give the order of the listing, not of time
            (directory / f"{index:04d}-{name}").write_bytes(data)
    outputs = []
    for directory in (in_order, backfill):
        done = replay([directory], tmp_path / f"out-{directory.name}", broker)
        assert done.returncode == 0, done.stderr
        outputs.append(read_outputs(tmp_path / f"out-{directory.name}"))
    assert outputs[0] == outputs[1]
    takebacks, net_cash, dead = outputs[0]
    offline = process_files(sorted(in_order.iterdir()))
    assert len(takebacks) == len(offline.live_takebacks()) > 0
    assert len(net_cash) == len(offline.net_cash) == 4 and dead == []
