"""Matching where a remittance is read (streams/local_ledgers.py), and through `remittances.rekeyed` when its input
was keyed by something else: two real workers on the embedded broker, against the domain alone."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client.parser import text_string_to_metric_families

from schemas import Remittance
from streams.broker import EmbeddedBroker
from streams.domain.ids import ledger_key
from streams.domain.offline import apply_all
from streams.domain.x12 import read_835
from streams.kafka_io import InputMessage, ResultCollector, input_messages, read_topic
from streams.settings import Settings
from tests.support.era_mix import era_stream
from tests.support.workers import ready_workers

pytestmark = pytest.mark.broker

PARTITIONS = list(range(Settings().partitions))


def partition_of(key: bytes) -> int:
    """Where Kafka's default partitioner puts a key: the producers here and faust's use it."""
    return DefaultPartitioner()(key, PARTITIONS, PARTITIONS)


def ledger_of(remittance: Remittance) -> str:
    return ledger_key(remittance.payee.id, remittance.payee.tin, remittance.payee.id_qualifier)


async def publish(settings: Settings, messages: list[InputMessage]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, max_request_size=17 * 1024 * 1024)
    await producer.start()
    try:
        for m in messages:
            await producer.send_and_wait(settings.topic_names.raw, key=m.key, value=m.value, headers=m.headers)
    finally:
        await producer.stop()


def rekeyed_count(url: str) -> float:
    text = urllib.request.urlopen(f"{url}/metrics", timeout=10).read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "takeback_remittances_rekeyed":
            return sum(s.value for s in family.samples if s.name.endswith("_total"))
    raise AssertionError("takeback_remittances_rekeyed_total is missing from /metrics")


def test_inputs_keyed_by_ledger_match_where_read_and_the_others_reach_their_ledger(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    files = list(era_stream(4_000, providers=12, seed=3))
    read = {name: read_835(data, file=name).remittances for name, data in files}
    expected = apply_all([r for name, _ in files for r in read[name]])
    keyed = [m for i, (name, data) in enumerate(files[::2]) for m in input_messages(name, data, f"k{i}", 1 << 24)]
    foreign = [
        InputMessage(m.source_id, f"feed-{m.source_id}".encode(), m.value, m.headers)  # a feed keying by its own id
        for i, (name, data) in enumerate(files[1::2])
        for m in input_messages(name, data, f"f{i}", 1 << 24)
    ]
    assert all(m.key.decode().startswith(("tin-", "1")) for m in keyed), "feeds key era.raw by ledger key"
    # the remittances a worker must send on: those whose ledger hashes elsewhere than the input's partition
    must_move = sum(
        partition_of(ledger_of(r).encode()) != partition_of(m.key)
        for m in foreign
        for r in read_835(m.value).remittances
    )
    assert must_move, "the foreign keys send some remittances away from their ledger"

    with ready_workers(broker.url, "local", tmp_path) as workers:
        asyncio.run(publish(workers.settings, keyed + foreign))
        collector = ResultCollector(workers.settings, [m.source_id for m in keyed + foreign])
        results = asyncio.run(collector.collect(timeout=180))
        assert sum(rekeyed_count(url) for url in workers.urls) == must_move  # every other one matched where read
        names = workers.settings.topic_names
        recorded = asyncio.run(read_topic(workers.settings, names.remittances))

    everything = {r.remittance_id for rs in read.values() for r in rs}
    assert {Remittance.model_validate_json(v).remittance_id for v in recorded} == everything  # the record is whole
    assert results.outcomes == expected.outcomes  # every remittance once (the mix re-sends some: duplicates)
    found = {e: (t.kind, t.amount, t.status, t.withdrawn) for e, t in results.takebacks.items()}
    assert found == {e: (t.kind, t.amount, t.status, t.withdrawn) for e, t in expected.takebacks.items()}
    assert found, "the mix has takebacks"
    assert {p: row.net_cash for p, row in results.net_cash.items()} == {
        p: row.net_cash for p, row in expected.net_cash.items()
    }


REISSUE = Path(__file__).parent / "scenarios" / "61_reissued_era_adds_ref_tj"


def test_copies_of_a_payment_routed_to_two_ledgers_meet_in_either_order(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """Rules §2: a payment re-issued with REF*TJ added goes to the TIN's ledger, its first copy to the NPI's own;
    feeds key each by its ledger, so they are read from two partitions and offered between them on
    remittances.rekeyed. For one NPI the copy without the TIN comes first, for another the one with it (the same
    files for another NPI, trace and TIN); the re-issue comes later, as it does (the first copy processed before it
    is published). The payment counts once for each, as offline. One worker: two workers see each other's
    directory entries once faust has replicated them (docs/rules.md §2, the limit), which a test cannot wait for."""
    first, second = (path.read_bytes() for path in sorted(REISSUE.glob("*.835")))
    other = {b"1000000616": b"1000000673", b"EFT6101": b"EFT6701", b"910000061": b"910000067"}

    def for_other(data: bytes) -> bytes:
        for old, new in other.items():
            data = data.replace(old, new)
        return data

    early = [("a1.835", first), ("b1.835", for_other(second))]  # NPI 616 without the TIN first, 673 with it first
    late = [("a2.835", second), ("b2.835", for_other(first))]
    expected = apply_all([r for name, data in early + late for r in read_835(data, file=name).remittances])
    messages = [
        [m for name, data in batch for m in input_messages(name, data, name, 1 << 24)] for batch in (early, late)
    ]

    assert len({partition_of(m.key) for batch in messages for m in batch}) > 1, "two ledgers, two partitions"
    with ready_workers(broker.url, "reissue", tmp_path, count=1) as workers:
        asyncio.run(publish(workers.settings, messages[0]))
        asyncio.run(ResultCollector(workers.settings, [m.source_id for m in messages[0]]).collect(timeout=120))
        asyncio.run(publish(workers.settings, messages[1]))
        every = [m.source_id for batch in messages for m in batch]
        results = asyncio.run(ResultCollector(workers.settings, every).collect(timeout=120))

    for npi in ("1000000616", "1000000673"):
        assert expected.net_cash[npi].net_cash == 300
        assert results.net_cash[npi].net_cash == 300, npi
        assert results.net_cash[npi].flags == {"reissued": 2}
