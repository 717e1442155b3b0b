"""`takeback replay` over the whole public corpus, on the embedded broker it starts itself."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from streams.domain.cash import invariant_holds
from streams.domain.offline import process_files
from streams.domain.x12 import read_835
from streams.inputs import expand_inputs

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def replayed(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus-replay")
    command = [sys.executable, "-m", "streams.cli", "replay", str(corpus), "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out


def takebacks_of(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "takebacks.jsonl").read_text().splitlines()]


def test_cash_invariant_holds_for_every_provider_and_payer(replayed: Path) -> None:
    rows = json.loads((replayed / "net_cash.json").read_text())
    assert len(rows) >= 10
    for row in rows:
        assert invariant_holds(row), row["provider_id"]
        for payer_row in row["by_payer"]:
            assert invariant_holds(payer_row), (row["provider_id"], payer_row["payer_id"])


def count_reversal_claims(text: str) -> int:
    """CLP02 = 22 claims counted straight from the text, independently of the reader."""
    count = 0
    for match in re.finditer(r"CLP([*|])", text):
        separator = match.group(1)
        elements = text[match.end() : match.end() + 200].split(separator)
        if len(elements) > 1 and elements[1].strip() == "22":
            count += 1
    return count


def test_every_reversal_claim_of_every_file_is_accounted_for(corpus: Path, replayed: Path) -> None:
    """Per file: CLP02=22 claims in the file = claim takebacks published + those inside dead-lettered sets."""
    takebacks_per_remittance = Counter(t["remittance_id"] for t in takebacks_of(replayed) if t["claim_id"] is not None)
    dead = [json.loads(line) for line in (replayed / "dead_letters.jsonl").read_text().splitlines()]
    for path in expand_inputs([corpus]):
        text = path.read_bytes().decode("latin-1")
        in_file = count_reversal_claims(text)
        read = read_835(path.read_bytes(), file=path.name)
        published = sum(takebacks_per_remittance[r.remittance_id] for r in read.remittances)
        rejected = sum(count_reversal_claims(d["raw"] or "") for d in dead if d["source"]["file"] == path.name)
        assert published + rejected == in_file, path.name
    big = corpus / "oopfactory_835_4010_deidentified_96_claims_reversals.dat"
    assert count_reversal_claims(big.read_text(encoding="latin-1")) == 19


def test_broker_run_equals_the_domain_run(corpus: Path, replayed: Path) -> None:
    """The stream pipeline adds transport, never meaning: same takebacks and cash as the plain domain code."""
    offline = process_files(expand_inputs([corpus]))
    expected = {t.event_id: t.model_dump(mode="json") for t in offline.live_takebacks()}
    actual = {t["event_id"]: t for t in takebacks_of(replayed)}
    assert actual == expected
    rows = {r["provider_id"]: r for r in json.loads((replayed / "net_cash.json").read_text())}
    assert rows == {p: r.model_dump(mode="json") for p, r in offline.net_cash.items()}
    dead = [json.loads(line) for line in (replayed / "dead_letters.jsonl").read_text().splitlines()]
    assert Counter(d["error_code"] for d in dead) == Counter(d.error_code for d in offline.dead_letters)


def test_every_dead_letter_says_where_and_why(replayed: Path) -> None:
    dead = [json.loads(line) for line in (replayed / "dead_letters.jsonl").read_text().splitlines()]
    assert dead, "the corpus has known bad files"
    for record in dead:
        source = record["source"]
        assert source["file"] and source["byte_offset"] is not None and source["segment_number"]
        assert source["segment_tag"] and record["error_code"] and len(record["message"]) > 20
