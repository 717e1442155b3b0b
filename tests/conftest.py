"""Shared fixtures: a real Kafka-compatible broker (Tansu) and a real PostgreSQL, both started by the suite; the
corpus (corpus/era)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.processes import stop_like_ctrl_c
from streams.samples import CORPUS_DIR
from tests.support.postgres import PostgresServer, postgres_bin


def pytest_configure(config: pytest.Config) -> None:
    # SIGTERM (`timeout`, CI cancelling a job) ends the run as Ctrl-C does: fixtures stop their broker and workers
    stop_like_ctrl_c((signal.SIGTERM,))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One Tansu broker for the whole session; tests isolate themselves by topic prefix."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running


@pytest.fixture(scope="session")
def corpus() -> Path:
    return CORPUS_DIR


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (Debian's `postgresql` package); tests use a database each."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (scripts/install-test-tools installs Debian's postgresql)")
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()
