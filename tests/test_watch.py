"""`takeback watch DIR` through the real broker: files dropped while it runs, while it is stopped and half-written,
a watcher killed with SIGKILL mid-publish and started again: every file on the raw topics exactly once (counted
by the messages' source ids), duplicates reported, a bad file in rejected/ with its reason. Also the folder listing
rule shared with `publish`/`replay`: links out of a folder are not followed."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import pytest

from schemas import Receipt
from streams.broker import EmbeddedBroker, free_port
from streams.feeds.delivery import Journal, JournalInUse, JournalRecord, not_an_input
from streams.inputs import expand_inputs, folder_files
from streams.kafka_io import SOURCE_ID_HEADER, ensure_topics, read_since
from streams.runner import WorkerProcess
from streams.settings import Settings
from tests.support.synthetic import synthetic_835

ERA = "edi835parser_835_5010_minimal_single_claim.835"
ERA2 = "edi835parser_835_5010_uhc_single_line.txt"
BANK = "moov_ccd_debit_vendor_pay.ach"
PIECE_LIMIT = 60_000  # the big file of the SIGKILL test goes as 15 pieces of one transaction set each


# --------------------------------------------------------------------------- the folder listing (no broker)


def test_a_folder_listing_does_not_follow_links_out_of_the_folder(tmp_path: Path) -> None:
    folder, outside = tmp_path / "in", tmp_path / "secret.txt"
    folder.mkdir()
    outside.write_text("not for the pipeline")
    (folder / "a.835").write_text("ISA*")
    (folder / "inside-link.835").symlink_to(folder / "a.835")
    (folder / "out-link.835").symlink_to(outside)
    (folder / "upload.835.part").write_text("ISA*")
    (folder / ".hidden").write_text("ISA*")
    assert [p.name for p in expand_inputs([folder])] == ["a.835", "inside-link.835"]
    followed = folder_files(folder, recursive=False, follow_links=True)
    assert [p.name for p in followed] == ["a.835", "inside-link.835", "out-link.835"]
    assert [p.name for p in expand_inputs([folder / "out-link.835"])] == ["out-link.835"]  # named: read


def test_what_the_watcher_rejects_before_publishing() -> None:
    assert not_an_input(b"ISA*00*...") is None
    assert not_an_input(b"\xef\xbb\xbf\r\nISA*00*") is None
    assert "empty" in (not_an_input(b"  \n") or "")
    assert "neither" in (not_an_input(b"%PDF-1.4 a remittance letter") or "")
    assert not_an_input(b"ST*835*0001~BPR*I~") is None  # an 835 without its envelope reads, as with publish
    assert not_an_input(b'{"remittance_id": "r1"}') is None  # a Remittance as JSON (rules §1)


def test_one_process_at_a_time_holds_a_journal(tmp_path: Path) -> None:
    first = Journal(tmp_path / ".takeback-watch.jsonl")
    with pytest.raises(JournalInUse, match="another process is using"):
        Journal(tmp_path / ".takeback-watch.jsonl")
    first.close()
    Journal(tmp_path / ".takeback-watch.jsonl").close()  # free again once closed


def test_a_torn_last_line_is_ignored_and_the_journal_compacted(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    record = JournalRecord(input_id="watch-1", state="publishing", sha256="ab", name="a.835", size=3, path="a.835")
    journal.append(record)
    journal.append(JournalRecord(**{**vars(record), "state": "published"}))
    journal.close()
    with path.open("a") as out:
        out.write('{"input_id": "watch-2", "state": "publ')  # a crash while writing a line
    again = Journal(path)
    assert again.published("watch-1") is not None and "watch-2" not in again.inputs
    again.close()
    assert len(path.read_text().splitlines()) == 1  # one record per input and file


# --------------------------------------------------------------------------- through the broker


def watch_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "TAKEBACK_BROKER": settings.broker,
        "TAKEBACK_TOPIC_PREFIX": settings.topic_prefix,
        "TAKEBACK_MAX_INPUT_BYTES": str(settings.max_input_bytes),
    }


def takeback_watch(settings: Settings, folder: Path, *args: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "streams.cli", "watch", str(folder), "--metrics-port", "0", *args]
    return subprocess.Popen(argv, env=watch_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def watch_once(settings: Settings, folder: Path, *args: str, settle: float = 1) -> str:
    run = takeback_watch(settings, folder, "--once", "--settle", str(settle), *args)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    return err


def raw_source_ids(settings: Settings) -> Counter[str]:
    """How many messages on era.raw and bank.raw carry each source id."""
    names = settings.topic_names
    records = asyncio.run(read_since(settings, [names.raw, names.bank_raw]))
    return Counter(
        value.decode() for record in records for key, value in record.headers or () if key == SOURCE_ID_HEADER
    )


def journal(folder: Path) -> list[dict]:
    lines = (folder / ".takeback-watch.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def published_ids(folder: Path) -> dict[str, str]:
    """File path -> input id of every file the journal says was published."""
    return {r["path"]: r["input_id"] for r in journal(folder) if r["state"] == "published"}


def aged(path: Path, seconds: float = 30) -> Path:
    """The file as if written `seconds` ago: complete for the watcher's settle time."""
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


@pytest.fixture
def settings(broker: EmbeddedBroker) -> Settings:
    live = Settings(broker=broker.url, topic_prefix=f"watch-{uuid.uuid4().hex[:8]}.", max_input_bytes=PIECE_LIMIT)
    asyncio.run(ensure_topics(live))
    return live


@pytest.mark.broker
def test_files_dropped_while_stopped_are_published_once_duplicates_reported_bad_files_rejected(
    settings: Settings, corpus: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    (folder / "payer-a").mkdir(parents=True)
    aged(Path(shutil.copy(corpus / ERA, folder / "one.835")))
    aged(Path(shutil.copy(corpus / ERA2, folder / "payer-a" / "two.835")))
    aged(Path(shutil.copy(corpus.parent / "bank" / BANK, folder / "deposits.ach")))
    aged(Path(shutil.copy(corpus / ERA, folder / "payer-a" / "one-again.835")))  # a duplicate
    (folder / "letter.pdf").write_bytes(b"%PDF-1.4 not an 835")
    aged(folder / "letter.pdf")
    (folder / "upload.835.part").write_bytes((corpus / ERA2).read_bytes())  # still being uploaded
    aged(folder / "upload.835.part")
    # a name that is not valid UTF-8 (Latin-1 "café"), as an SFTP client on an old system writes it
    latin1_name = Path(os.fsdecode(bytes(folder) + b"/caf\xe9.835"))
    latin1_name.write_bytes((corpus / ERA).read_bytes().replace(b"~", b"~\r\n"))
    aged(latin1_name)
    fresh = folder / "fresh.835"
    fresh.write_bytes((corpus / ERA2).read_bytes()[:200])  # half-written, just now

    waiting = [p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".part")]
    size = sum(p.stat().st_size for p in waiting)
    # settle 20 s: the files aged 30 s are complete, the one written just now is not, however slowly the
    # watcher starts on a loaded machine (with 1 s, a start slower than that read the half-written file)
    err = watch_once(settings, folder, "--move", settle=20)
    assert f"7 files ({size:,} bytes) waiting" in err  # the backlog line: the half-written one counts, .part not
    assert "duplicate: payer-a/one-again.835 has the content of one.835" in err or (
        "duplicate: one.835 has the content of payer-a/one-again.835" in err
    )
    ids = published_ids(folder)
    assert sorted(ids) in (
        ["caf\udce9.835", "deposits.ach", "one.835", "payer-a/two.835"],
        ["caf\udce9.835", "deposits.ach", "payer-a/one-again.835", "payer-a/two.835"],
    )
    assert (folder / "rejected" / "letter.pdf").exists()
    reason = (folder / "rejected" / "letter.pdf.reason.txt").read_text()
    assert "neither an X12 835" in reason
    assert sorted(p.relative_to(folder / "processed").as_posix() for p in (folder / "processed").rglob("*.*")) == [
        "caf\udce9.835",
        "deposits.ach",
        "one.835",
        "payer-a/one-again.835",
        "payer-a/two.835",
    ]
    assert fresh.exists() and (folder / "upload.835.part").exists()  # not read yet

    # The upload finishes (renamed), the half-written file is completed; the watcher runs again later.
    (folder / "upload.835.part").rename(folder / "upload.835")
    fresh.write_bytes((corpus / ERA2).read_bytes().replace(b"~", b"~\n"))
    aged(fresh)
    err = watch_once(settings, folder, "--move", settle=20)
    assert "published fresh.835" in err
    assert "duplicate: upload.835 has the content of payer-a/two.835" in err
    ids = published_ids(folder)
    assert len(ids) == 5
    counts = raw_source_ids(settings)
    assert counts == Counter({input_id: 1 for input_id in ids.values()})  # each file once, no more

    err = watch_once(settings, folder, "--move")  # nothing new: nothing published
    assert "no file waiting" in err
    assert raw_source_ids(settings) == counts


@pytest.mark.broker
def test_a_running_watcher_publishes_files_as_they_arrive_and_waits_for_half_written_ones(
    settings: Settings, corpus: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    port = free_port()
    watcher = takeback_watch(settings, folder, "--settle", "1", "--interval", "0.2", "--metrics-port", str(port))
    try:
        era = (corpus / ERA2).read_bytes()
        shutil.copy(corpus / ERA, folder / "first.835")
        with (folder / "slow.835").open("wb") as out:  # a sender writing slowly, with no .part name
            for start in range(0, len(era), len(era) // 4 + 1):
                out.write(era[start : start + len(era) // 4 + 1])
                out.flush()
                time.sleep(0.4)
        deadline = time.monotonic() + 30
        while len(published_ids(folder) if (folder / ".takeback-watch.jsonl").exists() else {}) < 2:
            assert watcher.poll() is None, watcher.communicate()[1]
            assert time.monotonic() < deadline, "the watcher did not publish both files"
            time.sleep(0.2)
        metrics = metric_values(f"http://127.0.0.1:{port}/metrics")
    finally:
        watcher.send_signal(signal.SIGTERM)
        _, err = watcher.communicate(timeout=30)
    ids = published_ids(folder)
    assert sorted(ids) == ["first.835", "slow.835"]
    assert raw_source_ids(settings) == Counter({input_id: 1 for input_id in ids.values()})
    # the slow file was read whole: its journal size is the full file's
    (slow,) = [r for r in journal(folder) if r["path"] == "slow.835" and r["state"] == "published"]
    assert slow["size"] == len(era)
    assert "published slow.835" in err
    assert metrics["takeback_watch_files_published_total"] == 2
    assert metrics["takeback_watch_published_bytes_total"] == len(era) + (corpus / ERA).stat().st_size
    assert metrics["takeback_watch_duplicate_files_total"] == metrics["takeback_watch_files_rejected_total"] == 0
    assert metrics["takeback_watch_files_seen_total"] == 2  # the slow file once, whatever sizes it passed
    assert metrics["takeback_watch_oldest_unpublished_age_seconds"] == 0


def metric_values(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        line.split(" ")[0]: float(line.split(" ")[1])
        for line in text.splitlines()
        if line.startswith("takeback_watch_") and "{" not in line
    }


@pytest.mark.broker
def test_a_watcher_killed_mid_publish_resumes_without_sending_a_piece_twice(
    settings: Settings, corpus: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    for seed in range(3):  # each goes as 15 messages (one per transaction set): a publish long enough to kill
        path = folder / f"big-{seed}.835"
        path.write_bytes(synthetic_835(3000, seed=seed))
        aged(path)
    for name in (ERA, ERA2):
        aged(Path(shutil.copy(corpus / name, folder / name)))
    state = folder / ".takeback-watch.jsonl"

    # Caught between its `publishing` and `published` records with some of the file's pieces on the broker: the
    # watcher is frozen (SIGSTOP) while the test counts them, then killed (SIGKILL) or let go on to try again.
    watcher = takeback_watch(settings, folder, "--settle", "1", "--interval", "0.2")
    on_broker = 0
    deadline = time.monotonic() + 60
    while on_broker == 0 and time.monotonic() < deadline and watcher.poll() is None:
        lines = state.read_text().splitlines() if state.exists() else []
        records = [json.loads(line) for line in lines if line.endswith("}")]
        if records and records[-1]["state"] == "publishing" and records[-1]["pieces"] > 1:
            watcher.send_signal(signal.SIGSTOP)
            prefix = records[-1]["input_id"] + "."
            sent = sum(n for source_id, n in raw_source_ids(settings).items() if source_id.startswith(prefix))
            if 0 < sent < records[-1]["pieces"]:
                watcher.send_signal(signal.SIGKILL)
                on_broker = sent
                break
            watcher.send_signal(signal.SIGCONT)
        time.sleep(0.005)
    watcher.kill()
    watcher.wait(timeout=10)
    assert on_broker, "the watcher was never caught with part of a file published"

    err = watch_once(settings, folder)
    ids = published_ids(folder)
    assert sorted(ids) == sorted(["big-0.835", "big-1.835", "big-2.835", ERA, ERA2])
    counts = raw_source_ids(settings)
    expected = Counter()
    for record in journal(folder):
        if record["state"] == "published":
            pieces = record["pieces"]
            expected.update(
                [record["input_id"]] if pieces == 1 else [f"{record['input_id']}.{n + 1}" for n in range(pieces)]
            )
    assert counts == expected, "a piece was sent twice or never"
    resumed = re.search(r"\((\d+) messages, (\d+) of them sent by a run that was stopped\)", err)
    assert resumed, err
    assert int(resumed[2]) >= on_broker  # (a piece in the socket when it was killed may have landed after the count)

    # Downstream: a worker reads each piece once, one `ingested` receipt each.
    worker_settings = settings.with_overrides(web_port=free_port(), data_dir=tmp_path / "worker", session_timeout=2.0)
    with WorkerProcess(worker_settings, tmp_path / "worker.log") as worker:
        deadline = time.monotonic() + 90
        while (receipts := ingested_receipts(settings)) != expected:
            assert worker.problem() is None, worker.problem()
            assert time.monotonic() < deadline, f"receipts {receipts} != pieces published {expected}"
            assert all(receipts[k] <= 1 for k in receipts), receipts
            time.sleep(0.5)


def ingested_receipts(settings: Settings) -> Counter[str]:
    records = asyncio.run(read_since(settings, [settings.topic_names.receipts]))
    receipts = (Receipt.model_validate_json(r.value) for r in records if b'"ingested"' in r.value)
    return Counter(r.source_id for r in receipts if r.stage == "ingested")
