"""People's actions (rules §12) through real workers and the sink: a worker killed with SIGKILL while actions flow
loses none and applies none twice, double-clicked actions act once, and the sink's audit table equals the topic."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import signal
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from schemas import Action
from streams.action_input import build_action
from streams.broker import EmbeddedBroker
from streams.cloudevents import cloudevent_headers, event_source
from streams.domain.work_state import WorkState, fold
from streams.kafka_io import ensure_topics, producer_for, read_topic
from streams.settings import Settings
from tests.support.postgres import PostgresServer
from tests.support.sink import new_database, query, sink_process, wait_until
from tests.test_crash_safety import Crew

pytestmark = pytest.mark.broker

TARGETS = 24
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
KINDS = [
    {"kind": "acknowledge"},
    {"kind": "assign", "assignee": "sam"},
    {"kind": "dispute", "filed_date": "2026-12-01", "reference_number": "APL-{n}", "letter_date": "2026-11-20"},
    {"kind": "note", "text": "called the payer about {n}"},
    {"kind": "refund_sent", "check_number": "50{n}", "amount": "12.50", "sent_date": "2026-12-02"},
]


def actions_of(target: int) -> list[Action]:
    out = []
    for step, what in enumerate(KINDS):
        filled = {k: v.format(n=target) if isinstance(v, str) else v for k, v in what.items()}
        out.append(
            build_action(
                target_kind="takeback",
                target_id=f"tb-{target}",
                provider_id=f"12345678{target % 3:02d}",
                actor="pat",
                action_id=f"a-{target}-{step}",
                what=filled,
                now=T0 + dt.timedelta(minutes=step),
            )
        )
    return out


async def publish(settings: Settings, actions: list[Action]) -> None:
    producer = producer_for(settings)
    await producer.start()
    try:
        for action in actions:
            headers = cloudevent_headers(action, event_source("test"))
            await producer.send_and_wait(
                settings.topic_names.actions,
                action.model_dump_json().encode(),
                key=action.target_key.encode(),
                headers=headers,
            )
    finally:
        await producer.stop()


def states_on(urls: list[str]) -> dict[str, WorkState]:
    states: dict[str, WorkState] = {}
    for url in urls:
        with urllib.request.urlopen(f"{url}/actions/local", timeout=10) as answer:
            for item in json.load(answer)["items"]:
                state = WorkState.model_validate(item)
                states[state.key] = state
    return states


def test_actions_survive_a_sigkill_applied_once_and_the_audit_table_equals_the_topic(
    broker: EmbeddedBroker, postgres: PostgresServer, tmp_path: Path
) -> None:
    settings = Settings(
        broker=broker.url, topic_prefix=f"act-{uuid.uuid4().hex[:8]}.", session_timeout=2.0, rebalance_timeout=10.0
    )
    asyncio.run(ensure_topics(settings))
    per_target = {t: actions_of(t) for t in range(TARGETS)}
    stream = [a for step in range(len(KINDS)) for a in (per_target[t][step] for t in range(TARGETS))]
    rng = random.Random(7)
    doubled = [a for a in stream if rng.random() < 0.2]  # double-clicked forms: the same action id again
    crew = Crew(settings, tmp_path)
    try:
        for _ in range(2):
            crew.wait_ready(crew.start())
        half = len(stream) // 2
        asyncio.run(publish(settings, stream[:half]))
        victim = crew.alive()[0]
        os.kill(victim.pid, signal.SIGKILL)  # while actions are still being applied
        asyncio.run(publish(settings, stream[half:] + doubled))
        crew.wait_ready(crew.start())
        expected = {f"takeback:tb-{t}": fold(per_target[t]) for t in range(TARGETS)}

        def all_applied() -> bool:
            states = states_on([f"http://127.0.0.1:{w.settings.web_port}" for w in crew.alive()])
            return all(k in states and len(states[k].history) == len(KINDS) for k in expected)

        deadline = time.monotonic() + 120
        while not all_applied():
            assert time.monotonic() < deadline, "actions were not all applied after the crash"
            time.sleep(0.5)
        states = states_on([f"http://127.0.0.1:{w.settings.web_port}" for w in crew.alive()])
    finally:
        crew.stop_all()
    assert set(states) == set(expected)
    for key, want in expected.items():
        assert [a.action_id for a in states[key].history] == [a.action_id for a in want.history], key
        assert states[key] == want, key

    topic = [Action.model_validate_json(v) for v in asyncio.run(read_topic(settings, settings.topic_names.actions))]
    assert len(topic) == len(stream) + len(doubled)
    dsn = new_database(postgres)
    log = tmp_path / "sink.log"
    sink = sink_process(settings.with_overrides(sink_metrics_port=0), dsn, log)
    try:
        wait_until(
            lambda: query(dsn, "SELECT count(*) FROM actions")[0][0] == len(stream), 60, "the audit rows", sink, log
        )
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)
    rows = query(dsn, "SELECT document FROM actions ORDER BY action_id")
    assert [Action.model_validate(r[0]) for r in rows] == sorted(
        {a.action_id: a for a in topic}.values(), key=lambda a: a.action_id
    )
    work = {
        f"{k}:{i}": WorkState.model_validate(d)
        for k, i, d in query(dsn, "SELECT target_kind, target_id, document FROM work_states")
    }
    assert work == expected
