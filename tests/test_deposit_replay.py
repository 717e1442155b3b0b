"""`takeback replay` with bank files next to 835s, through a real broker and worker (rules §10).

The deposit scenarios' 835s and bank files together, in two arrival orders: DIR/deposits.jsonl must be the same
both times, and the same as the domain gives without a broker (streams/domain/bank/offline.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.domain.bank.offline import reassociate_files
from streams.domain.bank.replay_lines import deposit_lines
from tests.test_deposit_scenarios import ALL_SCENARIOS

pytestmark = pytest.mark.broker
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("deposit-inputs")
    for scenario in ALL_SCENARIOS:
        for file in scenario.files:
            shutil.copy(file, folder / f"{scenario.name}__{file.name}")
    return sorted(folder.iterdir())


def replay(files: list[Path], out: Path, broker: EmbeddedBroker) -> list[str]:
    command = [sys.executable, "-m", "streams.cli", "replay", *map(str, files), "--out", str(out)]
    run = subprocess.run(
        [*command, "--broker", broker.bootstrap], capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return (out / "deposits.jsonl").read_text().splitlines()


def test_deposits_jsonl_is_the_same_in_any_order_and_the_same_as_the_domain(
    inputs: list[Path], tmp_path: Path, broker: EmbeddedBroker
) -> None:
    expected = deposit_lines(reassociate_files(inputs).records.values())
    forward = replay(inputs, tmp_path / "forward", broker)
    backward = replay(list(reversed(inputs)), tmp_path / "backward", broker)
    assert forward == expected
    assert backward == expected
    statuses = {json.loads(line)["status"] for line in forward}
    assert {"matched", "amount_mismatch", "era_without_deposit", "deposit_without_era", "duplicate_deposit"} <= statuses
    assert (tmp_path / "forward" / "dead_letters.jsonl").read_text() == ""
