"""Bad and hostile input through a running worker: each ends as a dead letter with position and reason,
the worker keeps going, and `takeback dead-letters` lists and re-runs them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import re
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.kafka_io import ensure_topics
from streams.runner import WorkerProcess, publish_and_collect
from streams.settings import Settings, settings_to_env
from tests.support.bank_files import BankPayment, bai2_file

pytestmark = pytest.mark.broker
DEPOSITS = [BankPayment("EFT0001", "1512345678", Decimal("1094.00"), dt.date(2026, 1, 12))]

GOOD = "edi835parser_835_5010_minimal_single_claim.835"
CAP = 3 * 1024 * 1024
SET_SEGMENTS = 50_000  # TAKEBACK_MAX_SET_SEGMENTS for this run: a flood of tiny segments past it stays small here


def many_sets(template: bytes, count: int) -> bytes:
    """One interchange holding `count` copies of the template's ST/SE (each with its own trace number)."""
    text = template.decode("latin-1")
    head, rest = text.split("ST*", 1)
    body = "ST*" + rest.split("GE*", 1)[0]
    sets = [body.replace("TRN*1*", f"TRN*1*{n:06d}", 1) for n in range(count)]
    return (head + "".join(sets) + "GE*1*1~IEA*1*000000001~").encode("latin-1")


def flood(good: bytes, segment: bytes, count: int) -> bytes:
    """The review's hostile shape: the good ERA's one claim, then `count` copies of one tiny segment before its SE."""
    se = good.index(b"SE*")
    return good[:se] + segment * count + good[se:]


def hostile_inputs(corpus: Path) -> list[tuple[str, bytes]]:
    good = (corpus / GOOD).read_bytes()
    rng = random.Random(3)
    return [
        ("empty.835", b""),
        ("garbage.bin", bytes(rng.randrange(256) for _ in range(5000))),
        ("truncated.835", good[: len(good) // 2]),
        ("mixed-delimiters.835", good.replace(b"*", b"|", 40)),
        ("invalid-utf8.835", good.replace(b"PROVIDER", b"PROV\xff\xfeDER")),
        ("huge-segment.835", good.replace(b"~", b"~REF*ZZ*" + b"A" * (2 * 1024 * 1024) + b"~", 3)),
        ("too-large.835", good + b" " * CAP),
        ("fifty-megabytes.835", good.replace(b"~", b"~REF*ZZ*" + b"A" * (50 * 1024 * 1024) + b"~", 3)),
        ("bad-amount.835", re.sub(rb"(CLP\*[^*]*\*[^*]*\*[^*]*\*)[^*]*", rb"\g<1>12X.00", good, count=1)),
        ("bad-date.835", good.replace(b"*123456789*20260121", b"*123456789*20261399", 1)),
        ("not-an-835.835", good.replace(b"ST*835*", b"ST*837*", 1)),
        ("bad-event.json", json.dumps({"remittance_id": 7, "payer": "x"}).encode()),
        ("unbalanced.835", good.replace(b"BPR*I*", b"BPR*I*1", 1)),
        ("thousands-of-sets.835", many_sets(good, 3000)),
        # 1.2 MB of CAS: under every cap, but its remittance event (about 4 MB) is larger than one message, which
        # crashed the ingest agent (the review's 240 s stall, at a twelfth of its size)
        ("cas-flood.835", flood(good, b"CAS*CO*45*0~", 100_000)),
        ("lx-flood.835", flood(good, b"LX*1~", SET_SEGMENTS + 1)),  # past TAKEBACK_MAX_SET_SEGMENTS
        ("truncated.bai", bai2_file(DEPOSITS)[: bai2_file(DEPOSITS).index(b"\n49,")]),  # no 49, 98, 99
        ("good.835", good),
    ]


def test_hostile_inputs_become_dead_letters_and_the_stream_keeps_flowing(
    broker: EmbeddedBroker, corpus: Path, tmp_path: Path
) -> None:
    settings = Settings(
        broker=broker.url,
        topic_prefix=f"hostile-{uuid.uuid4().hex[:8]}.",
        session_timeout=2.0,
        web_port=free_port(),
        max_input_bytes=CAP,
        max_set_segments=SET_SEGMENTS,
        data_dir=tmp_path / "state",
    )
    asyncio.run(ensure_topics(settings))
    inputs = hostile_inputs(corpus)
    with WorkerProcess(settings, tmp_path / "worker.log") as worker:
        published, results = asyncio.run(
            publish_and_collect(settings, worker, inputs, timeout=480)
        )  # its 3,000 sets and floods take minutes on a loaded 2-core machine
        assert worker.problem() is None, "the worker died"

        by_file = {p.source_id: p.file for p in published}
        codes: dict[str, set[str]] = {}
        for dead in results.dead_letters:
            codes.setdefault(by_file[dead.source.source_id], set()).add(dead.error_code)
            assert dead.message and dead.error_code
            if dead.stage == "ingest" and dead.error_code not in ("input_too_large", "invalid_event", "not_x12"):
                where = (
                    dead.source.byte_offset if dead.source.line is None else dead.source.line
                )  # a bank file: its line
                assert dead.source.segment_number is not None and where is not None, dead
        expected_rejected = {
            "empty.835", "garbage.bin", "truncated.835", "too-large.835", "bad-event.json", "unbalanced.835",
            "fifty-megabytes.835", "bad-amount.835", "bad-date.835", "not-an-835.835",
            "cas-flood.835", "lx-flood.835", "truncated.bai",
        }  # fmt: skip
        assert expected_rejected <= set(codes), codes
        assert codes["too-large.835"] == {"input_too_large"}
        assert codes["bad-event.json"] == {"invalid_event"}
        assert codes["unbalanced.835"] == {"unbalanced_remittance"}
        assert codes["fifty-megabytes.835"] == {"input_too_large"}  # cut at ST/SE; only its first 64 KiB travel
        assert codes["bad-amount.835"] == {"bad_amount"}
        assert codes["bad-date.835"] == {"bad_date"}
        assert codes["not-an-835.835"] == {"not_835"}
        assert codes["cas-flood.835"] == codes["lx-flood.835"] == {"set_too_large"}
        assert codes["truncated.bai"] == {"truncated"}
        st = (corpus / GOOD).read_bytes().index(b"ST*835")
        for dead in results.dead_letters:  # each at its set's ST or its account's 03, no excerpt over 64 KiB
            if by_file[dead.source.source_id] in ("cas-flood.835", "lx-flood.835"):
                assert (dead.source.byte_offset, dead.source.segment_number, dead.source.segment_tag) == (st, 3, "ST")
                assert dead.raw is not None and len(dead.raw) <= 64 * 1024
            if by_file[dead.source.source_id] == "truncated.bai":
                assert (dead.source.line, dead.source.segment_tag) == (3, "03")
        ingested = {by_file[s]: r for s, r in results.ingested.items()}
        assert ingested["thousands-of-sets.835"].remittances == 3000  # all of them, none lost
        assert ingested["good.835"].remittances == 1 and "good.835" not in codes
        assert ingested["invalid-utf8.835"].remittances == 1  # bytes that are not UTF-8 are not an error

        env = {**os.environ, **settings_to_env(settings)}
        cli = [sys.executable, "-m", "streams.cli", "dead-letters"]
        listing = subprocess.run([*cli, "list"], env=env, capture_output=True, text=True, timeout=120)
        assert listing.returncode == 0, listing.stderr
        assert len([x for x in listing.stdout.split("\n") if x]) == len(results.dead_letters)
        assert "unbalanced_remittance" in listing.stdout
        only = subprocess.run(
            [*cli, "list", "--json", "--code", "invalid_event"], env=env, capture_output=True, text=True, timeout=120
        )
        (bad_event,) = [json.loads(line) for line in only.stdout.split("\n") if line]
        assert bad_event["source"]["file"] == "bad-event.json"

        again = subprocess.run(
            [*cli, "replay", "--id", bad_event["dead_letter_id"]], env=env, capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0 and "published 1" in again.stderr
        for _ in range(20):  # the worker takes a moment to reject it again
            after = subprocess.run([*cli, "list", "--json"], env=env, capture_output=True, text=True, timeout=120)
            replayed = [json.loads(line) for line in after.stdout.split("\n") if line]
            if any((d["source"]["file"] or "").startswith("dead-letter-") for d in replayed):
                break
        else:
            pytest.fail("the replayed dead letter was not processed again")


def test_replay_of_a_file_whose_name_is_not_utf8_writes_its_dead_letter_and_the_good_era_is_applied(
    corpus: Path, tmp_path: Path
) -> None:
    """Such a name aborted the whole replay (UnicodeEncodeError, nothing written): now its odd bytes are escaped."""
    good = (corpus / GOOD).read_bytes()
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / os.fsdecode(b"era-\xff\xfe.835")).write_bytes(flood(good, b"LX*1~", 1_001))
    (folder / "good.835").write_bytes(good)
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(tmp_path / "state"), "TAKEBACK_MAX_SET_SEGMENTS": "1000"}
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "streams.cli", "replay", str(folder), "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    (dead,) = [json.loads(line) for line in (out / "dead_letters.jsonl").read_text().splitlines()]
    assert (dead["source"]["file"], dead["error_code"]) == ("era-\\xff\\xfe.835", "set_too_large")
    assert (dead["source"]["byte_offset"], dead["source"]["segment_number"]) == (good.index(b"ST*835"), 3)
    rows = json.loads((out / "net_cash.json").read_text())
    assert [row["provider_id"] for row in rows] == ["1234567890"]  # the good ERA's payee, applied
