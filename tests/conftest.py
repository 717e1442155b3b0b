"""Shared fixtures: a real Kafka-compatible broker (Tansu) started by the suite, the corpus location."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CORPUS = PROJECT_ROOT.parent / "shared" / "corpus" / "era"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/builders.py


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One Tansu broker for the whole session; tests isolate themselves by topic prefix."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"the ERA corpus is missing: expected {CORPUS} (shared/ beside the project)")
    return CORPUS
