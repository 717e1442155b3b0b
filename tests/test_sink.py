"""`takeback sink`: the takeback topics' history in a real PostgreSQL (started by the suite), through the
embedded broker: identical to `replay`'s files, and nothing lost or duplicated when the sink is killed."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import urllib.request
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from schemas import DeadLetter, Lookback, NetCashRow, PayerCash, RuleSource, SourceRef, TakebackDeadline
from streams.broker import EmbeddedBroker, free_port
from streams.inputs import expand_inputs
from streams.kafka_io import read_topic
from streams.runner import feed_and_collect, isolated, running_pipeline, write_replay_output
from streams.settings import Settings, TopicNames
from streams.sink.migrations import MIGRATIONS, migrate
from streams.sink.store import Record, SinkStore
from tests.support.builders import a_takeback
from tests.support.era_mix import era_stream
from tests.support.postgres import PostgresServer
from tests.support.sink import new_database, query, sink_process, wait_until

NAMES = TopicNames()


@pytest.fixture
def dsn(postgres: PostgresServer) -> str:
    return new_database(postgres)


def record(topic: str, event, offset: int = 0) -> Record:
    value = event if isinstance(event, bytes) else event.model_dump_json().encode()
    return Record(topic, 0, offset, value)


async def write(dsn: str, *batches: list[Record]) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await migrate(conn)
        store = SinkStore(conn, NAMES)
        for batch in batches:
            await store.write(batch)


# --------------------------------------------------------------------------- the database alone


def test_migrations_run_once(dsn: str) -> None:
    async def twice() -> tuple[list[int], list[int]]:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            return await migrate(conn), await migrate(conn)

    first, second = asyncio.run(twice())
    assert first == [m.version for m in MIGRATIONS]
    assert second == []
    assert [row[0] for row in query(dsn, "SELECT version FROM schema_migrations")] == first


def test_revisions_converge_whatever_the_order_and_repeats(dsn: str) -> None:
    t1, t2, t3 = a_takeback(1), a_takeback(2, kind="recoupment", method="offset"), a_takeback(3, amount=Decimal("7.50"))
    asyncio.run(
        write(
            dsn,
            [record(NAMES.recoupments, t2), record(NAMES.reversals, t1)],
            [record(NAMES.recoupments, t3), record(NAMES.recoupments, t2)],  # a redelivery
            [record(NAMES.reversals, t1)],  # an old revision, late
        )
    )
    assert query(dsn, "SELECT event_id, revision FROM takeback_revisions ORDER BY revision") == [
        ("tb-1", 1),
        ("tb-1", 2),
        ("tb-1", 3),
    ]
    current = query(dsn, "SELECT revision, kind, amount, document FROM takebacks")
    assert current == [(3, "reversal", Decimal("7.50"), json.loads(t3.model_dump_json()))]


def test_net_cash_keeps_the_newest_row(dsn: str) -> None:
    newer = NetCashRow(provider_id="p", revision=5, net_cash=Decimal("100.10"), claim_payments=Decimal("100.10"))
    older = NetCashRow(provider_id="p", revision=3, net_cash=Decimal("1"), claim_payments=Decimal("1"))
    asyncio.run(write(dsn, [record(NAMES.net_cash, newer)], [record(NAMES.net_cash, older)]))
    assert query(dsn, "SELECT revision, net_cash FROM net_cash") == [(5, Decimal("100.10"))]


def test_net_cash_columns_for_money_not_moved_and_accepted_differences(dsn: str) -> None:
    payer = PayerCash(payer_id="P1", claim_payments=Decimal("5.75"), not_moved=Decimal("5.75"))
    row = NetCashRow(provider_id="q", revision=1, claim_payments=Decimal("5.75"), not_moved=Decimal("5.75"),
                     unexplained=Decimal("-1.10"), by_payer=[payer])  # fmt: skip
    asyncio.run(write(dsn, [record(NAMES.net_cash, row)]))
    assert query(dsn, "SELECT not_moved, unexplained FROM net_cash WHERE provider_id = 'q'") == [
        (Decimal("5.75"), Decimal("-1.10"))
    ]
    assert query(dsn, "SELECT payer_id, not_moved, unexplained FROM net_cash_by_payer WHERE provider_id = 'q'") == [
        ("P1", Decimal("5.75"), Decimal("0"))
    ]


def test_takeback_columns_for_deadlines_look_back_and_money_taken_twice(dsn: str) -> None:
    """Rules §11, §13: what a worklist sorts and filters by is a column; the full list stays in the document."""
    source = RuleSource(citation="SSA § 1893(f)(2)", url="https://example.org", checked_on=dt.date(2026, 12, 7))
    clock = TakebackDeadline(
        deadline_kind="medicare_stop_recoupment", act_by=dt.date(2026, 3, 3), day=30, description="d", source=source
    )
    takeback = a_takeback(
        kind="recoupment", payer_kind="medicare", day_one=dt.date(2026, 2, 2), act_by=dt.date(2026, 3, 3),
        deadline_kind="medicare_stop_recoupment", deadline_source=source, deadlines=[clock],
        lookback=Lookback(outcome="beyond", state="TX", limit="180 days"), flags=["beyond_lookback_limit"],
        recovered_twice_excess=Decimal("200.00"),
    )  # fmt: skip
    asyncio.run(write(dsn, [record(NAMES.recoupments, takeback)]))
    columns = "payer_kind, day_one, act_by, deadline_kind, deadline_citation, lookback_outcome, lookback_state, "
    columns += "beyond_lookback_limit, recovered_twice_excess"
    expected = ("medicare", dt.date(2026, 2, 2), dt.date(2026, 3, 3), "medicare_stop_recoupment",
                "SSA § 1893(f)(2)", "beyond", "TX", True, Decimal("200.00"))  # fmt: skip
    assert query(dsn, f"SELECT {columns} FROM takebacks") == [expected]
    assert query(dsn, f"SELECT {columns} FROM takeback_revisions") == [expected]


def test_what_postgres_cannot_hold_is_kept_with_a_reason(dsn: str) -> None:
    """A NUL byte in a rejected input is kept (bytea); one in a text field, or a broken event, is not silently
    dropped: it lands in rejected_events and the rest of the batch is written."""
    nul_input = DeadLetter(dead_letter_id="d1", stage="ingest", error_code="not_x12", message="m",
                           source=SourceRef(file="a.835"), raw="ISA\x00*")  # fmt: skip
    nul_text = DeadLetter(dead_letter_id="d2", stage="ingest", error_code="not_x12", message="bad\x00",
                          source=SourceRef())  # fmt: skip
    batch = [
        record(NAMES.dead_letters, nul_input, 0),
        record(NAMES.dead_letters, nul_text, 1),
        record(NAMES.reversals, b'{"not": "a takeback"}', 2),
        record(NAMES.reversals, a_takeback(1), 3),
    ]
    asyncio.run(write(dsn, batch))
    assert query(dsn, "SELECT dead_letter_id, raw FROM dead_letters") == [("d1", b"ISA\x00*")]
    rejected = query(dsn, "SELECT kafka_topic, kafka_offset, reason FROM rejected_events ORDER BY kafka_offset")
    assert [(topic, offset) for topic, offset, _ in rejected] == [(NAMES.dead_letters, 1), (NAMES.reversals, 2)]
    assert "PostgreSQL refused" in rejected[0][2]
    assert "does not match its schema" in rejected[1][2]
    assert query(dsn, "SELECT event_id FROM takebacks") == [("tb-1",)]


def test_the_sink_says_what_is_missing_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    no_dsn = subprocess.run(
        [sys.executable, "-m", "streams.cli", "sink"], capture_output=True, text=True, timeout=60, env={"PATH": ""}
    )
    assert no_dsn.returncode == 1
    assert no_dsn.stderr.strip() == "takeback: no PostgreSQL to write to: pass --dsn or set TAKEBACK_SINK_DSN"
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    refused = subprocess.run(
        [sys.executable, "-m", "streams.cli", "sink", "--dsn", closed], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("takeback: cannot connect to PostgreSQL:")
    assert len(refused.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- through the broker


def sink_settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    return isolated(Settings(broker=broker.url, session_timeout=2.0)).with_overrides(data_dir=tmp_path / "state")


def replay_into(live: Settings, files: list[Path], out: Path) -> None:
    """What `takeback replay` does, in a namespace the test knows (so the sink can follow the same topics)."""
    out.mkdir(parents=True, exist_ok=True)
    with running_pipeline(live, live.broker, out) as pipeline:
        results = asyncio.run(feed_and_collect(pipeline, files, timeout=300, progress=False))
    write_replay_output(results, out)


def stop(sink) -> None:
    if sink.poll() is None:
        sink.kill()
        sink.wait(timeout=10)


def stored_takebacks(dsn: str) -> list[dict]:
    rows = query(dsn, "SELECT document FROM takebacks WHERE NOT withdrawn")
    return sorted((row[0] for row in rows), key=lambda t: (t["provider_id"], t["takeback_date"] or "", t["event_id"]))


def file_takebacks(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "takebacks.jsonl").read_text().splitlines()]


@pytest.mark.broker
def test_a_replay_ends_up_in_postgres_as_in_its_files(
    broker: EmbeddedBroker, postgres: PostgresServer, corpus: Path, tmp_path: Path
) -> None:
    live = sink_settings(broker, tmp_path)
    out = tmp_path / "replay"
    replay_into(live, expand_inputs([corpus]), out)
    dsn, log, port = new_database(postgres), tmp_path / "sink.log", free_port()
    sink = sink_process(live, dsn, log, "--from-beginning", TAKEBACK_SINK_METRICS_PORT=str(port))
    try:
        expected_takebacks = file_takebacks(out)
        expected_cash = json.loads((out / "net_cash.json").read_text())
        expected_dead = [json.loads(line) for line in (out / "dead_letters.jsonl").read_text().splitlines()]
        assert expected_takebacks and expected_cash and expected_dead

        def caught_up() -> bool:
            return query(dsn, "SELECT count(*) FROM takebacks WHERE NOT withdrawn")[0][0] == len(
                expected_takebacks
            ) and query(dsn, "SELECT count(*) FROM net_cash")[0][0] == len(expected_cash)

        wait_until(caught_up, 120, "the sink to write the replay", sink, log)
        assert stored_takebacks(dsn) == expected_takebacks
        cash = [row[0] for row in query(dsn, "SELECT document FROM net_cash ORDER BY provider_id")]
        assert cash == expected_cash
        dead = {row[0]: row[1] for row in query(dsn, "SELECT dead_letter_id, document FROM dead_letters")}
        assert {d["dead_letter_id"]: {k: v for k, v in d.items() if k != "raw"} for d in expected_dead} == dead
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            metrics = response.read().decode()
        assert f'takeback_sink_lag_messages{{partition="0",topic="{live.topic_names.reversals}"}}' in metrics
        assert 'takeback_sink_events_total{table="takeback_revisions"}' in metrics
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(timeout=30) == 0, "SIGTERM stops the sink cleanly"
    finally:
        stop(sink)


@pytest.mark.broker
def test_a_sink_killed_mid_stream_loses_and_duplicates_nothing(
    broker: EmbeddedBroker, postgres: PostgresServer, tmp_path: Path
) -> None:
    live = sink_settings(broker, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name, data in era_stream(6000, providers=12, seed=11):
        (inputs / name).write_bytes(data)
    out = tmp_path / "replay"
    replay_into(live, expand_inputs([inputs]), out)
    published = {
        (t["event_id"], t["revision"])
        for topic in (live.topic_names.reversals, live.topic_names.recoupments)
        for t in map(json.loads, asyncio.run(read_topic(live, topic)))
    }
    dsn, log = new_database(postgres), tmp_path / "sink.log"
    slow = {"TAKEBACK_SINK_BATCH_SIZE": "5", "TAKEBACK_SINK_METRICS_PORT": "0"}

    def revisions() -> int:
        return query(dsn, "SELECT count(*) FROM takeback_revisions")[0][0]

    sink = sink_process(live, dsn, log, **slow)
    try:
        wait_until(lambda: revisions() > 0, 120, "the sink to start writing", sink, log)
        sink.kill()  # SIGKILL: no clean shutdown, offsets of the batch in flight not committed
        sink.wait(timeout=10)
        at_kill = revisions()
        assert 0 < at_kill < len(published), "the kill did not land mid-stream"
        sink = sink_process(live, dsn, log, **slow)
        wait_until(lambda: revisions() >= len(published), 180, "the restarted sink to catch up", sink, log)
        stored = query(dsn, "SELECT event_id, revision FROM takeback_revisions")
        assert len(stored) == len(set(stored)) == len(published)
        assert set(stored) == published
        wait_until(lambda: stored_takebacks(dsn) == file_takebacks(out), 60, "the current takebacks", sink, log)
        expected_cash = json.loads((out / "net_cash.json").read_text())
        wait_until(
            lambda: [r[0] for r in query(dsn, "SELECT document FROM net_cash ORDER BY provider_id")] == expected_cash,
            60,
            "the cash rows",
            sink,
            log,
        )
    finally:
        stop(sink)
