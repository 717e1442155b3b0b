"""Helpers for tests of `takeback sink`: a database per test, the sink as a child process, reading tables back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg

from streams.settings import Settings, settings_to_env
from tests.support.postgres import PostgresServer


def new_database(server: PostgresServer) -> str:
    """A fresh database on the test server; returns its DSN."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.dsn.rsplit("/", 1)[0] + "/" + name


def query(dsn: str, sql: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql).fetchall()


def sink_process(settings: Settings, dsn: str, log: Path, *extra: str, **env: str) -> subprocess.Popen[bytes]:
    """`takeback sink` in a child process, as an operator runs it."""
    environment = {**os.environ, **settings_to_env(settings), "PYTHONUNBUFFERED": "1", **env}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "sink", "--dsn", dsn, *extra],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def wait_until(condition: Callable[[], bool], timeout: float, what: str, process=None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except psycopg.errors.UndefinedTable:
            pass  # the sink has not created its tables yet
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the sink exited ({process.returncode}): {log.read_text() if log else ''}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-3000:] if log else ''}")
