"""Reassociation survives kill -9: ERAs and bank files flow while a worker is killed and restarted (rules §10).

The synthetic ERA stream of the crash tests, with bank files of its deposits (most paid, some missing, one short,
one extra), published in a steady stream while workers are hurt; deposits.jsonl's lines must equal the plain
domain run over the same files.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker
from streams.domain.bank.offline import reassociate_files
from streams.domain.bank.replay_lines import deposit_lines
from streams.domain.x12 import read_835
from streams.kafka_io import ResultCollector, collect_reassociations, ensure_topics, publish_files
from streams.settings import Settings
from tests.support.bank_files import BankPayment, nacha_file
from tests.test_crash_safety import Crew, kill_and_restart, write_stream

pytestmark = pytest.mark.broker


def bank_files_for(eras: list[Path], folder: Path) -> list[Path]:
    """Five NACHA files paying the ERAs: every seventh payment missing, one 1.00 short, one extra."""
    payments = []
    for number, remittance in enumerate(r for path in eras for r in read_835(path.read_bytes()).remittances):
        if number % 7 == 3 or remittance.payment.amount <= 0:
            continue
        amount = remittance.payment.amount - (Decimal(1) if number == 5 else 0)
        date = remittance.payment.effective_date or remittance.production_date
        payments.append(BankPayment(remittance.trace_number, remittance.payer.id, amount, date))
    payments.append(BankPayment("NOERA0001", "1999999999", Decimal("42.00"), payments[0].effective_date))
    files = []
    for index in range(5):
        path = folder / f"bank_{index}.ach"
        path.write_bytes(nacha_file(payments[index::5], line_ending="\r\n"))
        files.append(path)
    return files


def test_kill_9_while_deposits_flow_loses_no_reassociation(broker: EmbeddedBroker, tmp_path: Path) -> None:
    eras = write_stream(tmp_path / "in", claims=4_000, seed=11)
    bank = bank_files_for(eras, tmp_path / "in")
    paths = list(eras)
    for index, file in enumerate(bank):  # bank files spread through the stream, before and after their ERAs
        paths.insert((index + 1) * len(paths) // (len(bank) + 1), file)
    settings = Settings(
        broker=broker.url, topic_prefix=f"dcrash-{uuid.uuid4().hex[:8]}.", session_timeout=2.0, rebalance_timeout=10.0
    )
    asyncio.run(ensure_topics(settings))
    crew = Crew(settings, tmp_path)
    rng = random.Random(7)
    harm = kill_and_restart(signal.SIGKILL)
    try:
        for _ in range(2):
            crew.start()

        async def flow() -> list[str]:
            async def feed() -> list:
                published = []
                for chunk in range(0, len(paths), 3):
                    published += await publish_files(settings, paths[chunk : chunk + 3], run_id=f"d{chunk:05d}")
                    await asyncio.sleep(0.3)
                return published

            async def hurt() -> None:
                for _ in range(2):
                    await asyncio.sleep(rng.uniform(0.8, 2.0))
                    await asyncio.to_thread(harm, crew, rng)

            published, _ = await asyncio.gather(feed(), hurt())
            collector = ResultCollector(settings, [p.source_id for p in published], health=crew.health)
            await collector.collect(timeout=120)
            records = await collect_reassociations(settings, timeout=120, health=crew.health)
            return deposit_lines(records.values())

        actual = asyncio.run(flow())
    finally:
        crew.stop_all()
    expected = deposit_lines(reassociate_files(paths).records.values())
    statuses = {json.loads(line)["status"] for line in expected}
    assert {"matched", "amount_mismatch", "era_without_deposit", "deposit_without_era"} <= statuses
    assert actual == expected
    assert crew.started > 2, "no worker was restarted"
