"""The deposits API (rules §10) on two workers: any worker answers, positions gather every worker's records."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.domain.bank.offline import reassociate_files
from streams.kafka_io import collect_reassociations
from streams.runner import RunningPipeline, feed_and_collect
from tests.support.workers import ready_workers
from tests.test_api import get
from tests.test_deposit_scenarios import ALL_SCENARIOS

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def workers(broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], list]]:
    files = [f for s in ALL_SCENARIOS for f in s.files]
    with ready_workers(broker.url, "dapi", tmp_path_factory.mktemp("deposit-api")) as workers:
        first = workers.processes[0]
        asyncio.run(feed_and_collect(RunningPipeline(workers.settings, first), files, timeout=120, progress=False))
        asyncio.run(collect_reassociations(workers.settings, timeout=120, health=first.problem))
        yield workers.urls, files


def test_positions_from_any_worker_are_the_domain_positions(workers: tuple[list[str], list[Path]]) -> None:
    urls, files = workers
    expected = [row.model_dump(mode="json") for row in reassociate_files(files).positions]
    for url in urls:
        status, body = get(f"{url}/deposits")
        assert status == 200 and body["items"] == expected and body["missing_workers"] == 0
    _, unknown = get(f"{urls[0]}/deposits?provider_id=")
    assert [row["provider_id"] for row in unknown["items"]] == [None]
    assert unknown["items"][0]["unposted_amount"] != "0"


def test_one_trace_from_any_worker(workers: tuple[list[str], list[Path]]) -> None:
    urls, _ = workers
    for url in urls:
        status, body = get(f"{url}/deposits/EFT2002")
        assert status == 200
        ((record),) = body["items"]
        assert (record["status"], record["difference"]) == ("amount_mismatch", "80.00")
        assert get(f"{url}/deposits/NO-SUCH-TRACE")[0] == 404
    _, document = get(f"{urls[0]}/openapi.json")
    assert {"/deposits", "/deposits/{trace}"} <= set(document["paths"])
