"""The `takeback` command as a user meets it: demo output, one-line failures (stopping: test_stopping.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.kafka_io import read_topic
from streams.settings import Settings
from tests.support.era_mix import era_stream

pytestmark = pytest.mark.broker

SYNTHETIC = "synthetic_835_5010_plb_wo_fb_l6_72_j1_wu_reversals_denials.835"


def takeback(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_demo_once_prints_takebacks_with_reasons_and_net_cash(corpus: Path, tmp_path: Path) -> None:
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(tmp_path), "TAKEBACK_WEB_PORT": str(free_port())}
    demo = takeback("demo", "--once", str(corpus / SYNTHETIC), env=env)
    out, err = demo.communicate(timeout=120)
    assert demo.returncode == 0, err
    assert "Takebacks found: 5" in out  # the J1 of 0.00 counts too: never dropped (rules §4)
    assert "overpayment_recovery" in out  # the WO recovery, with its reason
    assert "Net cash per provider: 1" in out
    assert "1234567893" in out


def test_a_worker_that_dies_fails_the_run_with_its_reason(corpus: Path, tmp_path: Path) -> None:
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(tmp_path), "TAKEBACK_WEB_PORT": "0"}  # an invalid port
    demo = takeback("demo", "--once", str(corpus / SYNTHETIC), env=env)
    _, err = demo.communicate(timeout=120)
    assert demo.returncode == 1
    assert "the worker exited" in err.strip().splitlines()[-1]


def test_unreachable_broker_is_one_line_and_non_zero(tmp_path: Path) -> None:
    file = tmp_path / "a.835"
    file.write_text("ISA")
    run = takeback("publish", str(file), "--broker", "127.0.0.1:1")
    _, err = run.communicate(timeout=120)
    assert run.returncode != 0
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("takeback: ")


def test_publish_without_broker_uses_the_configured_one(broker: EmbeddedBroker, corpus: Path, tmp_path: Path) -> None:
    """Not an embedded broker that disappears with the command: the files wait on TAKEBACK_BROKER for a worker."""
    prefix = f"cli-{uuid.uuid4().hex[:8]}."
    env = {**os.environ, "TAKEBACK_BROKER": broker.bootstrap, "TAKEBACK_TOPIC_PREFIX": prefix}
    run = takeback("publish", str(corpus / SYNTHETIC), env=env)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    assert out.startswith(f"published {SYNTHETIC} as ")
    settings = Settings(broker=broker.url, topic_prefix=prefix)
    (value,) = asyncio.run(read_topic(settings, settings.topic_names.raw))
    assert value == (corpus / SYNTHETIC).read_bytes()


def test_publish_says_in_one_line_when_the_configured_broker_is_not_reachable(tmp_path: Path) -> None:
    file = tmp_path / "a.835"
    file.write_text("ISA")
    run = takeback("publish", str(file), env={**os.environ, "TAKEBACK_BROKER": "127.0.0.1:1"})
    _, err = run.communicate(timeout=120)
    assert run.returncode != 0
    assert err.strip().splitlines() == [
        "takeback: no broker reachable at 127.0.0.1:1 (TAKEBACK_BROKER, or pass --broker HOST:PORT; "
        "`takeback broker` runs one)"
    ]


def test_a_fifo_is_not_a_regular_file_rather_than_no_such_file(tmp_path: Path) -> None:
    fifo = tmp_path / "drop.835"
    os.mkfifo(fifo)
    run = takeback("publish", str(fifo), env={**os.environ, "TAKEBACK_BROKER": "127.0.0.1:1"})
    _, err = run.communicate(timeout=120)  # never opened: reading a FIFO nobody writes would block forever
    assert run.returncode != 0
    assert err.strip().splitlines() == [f"takeback: not a regular file or directory: {fifo}"]


def test_publish_in_canonical_order_sends_a_backfill_in_the_order_of_its_payments(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    files = list(era_stream(600, providers=2))[:3]
    for (name, data), listed in zip(files, ("c", "b", "a"), strict=True):  # names in the reverse of time order
        (tmp_path / f"{listed}-{name}").write_bytes(data)
    env = {**os.environ, "TAKEBACK_TOPIC_PREFIX": f"cli-{uuid.uuid4().hex[:8]}."}
    published = []
    for flags in ([], ["--canonical-order"]):
        run = takeback("publish", str(tmp_path), "--broker", broker.bootstrap, *flags, env=env)
        out, err = run.communicate(timeout=120)
        assert run.returncode == 0, err
        published.append([line.split()[1][0] for line in out.splitlines()])
    assert published == [["a", "b", "c"], ["c", "b", "a"]]
