"""The reassociate agent's step over a plain dict (its table), and the deposit metrics (rules §10)."""

from __future__ import annotations

import collections
import datetime as dt
import random
from decimal import Decimal

from schemas import Deposit, Reassociation, SourceRef
from streams.bank_ingest import ingest_bank_file
from streams.domain.bank.matcher import DepositMatcher, ReassociationInput
from streams.kafka_io import SOURCE_FILE_HEADER, SOURCE_ID_HEADER
from streams.metrics import OpenDates, WorkerMetrics
from streams.reassociate_step import CLOCK_KEY, ReassociationBatch, StepResult, clock_key
from tests.support.bank_files import BankPayment, nacha_file
from tests.support.builders import PAYER, claim, remittance


def deposit(trace: str, amount: str, date: str, bank_ref: str = "B1") -> Deposit:
    return Deposit(
        deposit_id=f"d-{trace}-{bank_ref}",
        source=SourceRef(file="bank.ach", line=3),
        format="nacha",
        amount=Decimal(amount),
        trace_number=trace,
        payer_id=PAYER,
        effective_date=dt.date.fromisoformat(date),
    )


def messages() -> list[bytes]:
    era_one = remittance("EFT1", "2026-01-09", [claim("P1", "1", "300")], effective="2026-01-12")
    era_two = remittance("EFT2", "2026-01-09", [claim("P2", "1", "150")], effective="2026-01-12")
    items = [
        ReassociationInput.of(era_one),
        ReassociationInput.of(era_two),
        ReassociationInput.of(deposit("EFT1", "300", "2026-01-12")),
        ReassociationInput.of(deposit("EFT1", "300", "2026-01-12", bank_ref="B2")),
        ReassociationInput.tick(dt.date(2026, 1, 20)),
    ]
    return [item.model_dump_json(exclude_defaults=True).encode() for item in items]


def apply_message(table: dict[bytes, bytes], value: bytes, wait: int = 3) -> tuple[StepResult, dict[bytes, bytes]]:
    """One message as a batch of one, in partition 0: its result and the writes it asks for."""
    batch = ReassociationBatch(lambda partition, key: table.get(key), wait)
    return batch.add(value, 0), batch.writes().get(0, {})


def _step(table: dict[bytes, bytes], value: bytes) -> StepResult:
    step, writes = apply_message(table, value)
    table.update(writes)
    return step


def test_a_crash_before_the_writes_publishes_the_same_revisions_again() -> None:
    table: dict[bytes, bytes] = {}
    for value in messages()[:2]:
        _step(table, value)
    first, _ = apply_message(table, messages()[2])  # published, then the worker died before storing
    again = _step(table, messages()[2])
    assert again.records == first.records and again.records[0].status == "matched"


def test_the_step_over_a_table_gives_what_the_matcher_gives_and_redelivery_republishes() -> None:
    table: dict[bytes, bytes] = {}
    published = {}
    for value in messages():
        for record in _step(table, value).records:
            published[record.event_id] = record
    matcher = DepositMatcher()
    for value in messages():
        matcher.apply(ReassociationInput.model_validate_json(value))
    assert published == {r.event_id: r for r in matcher.current()}
    assert {r.status for r in published.values()} == {"matched", "duplicate_deposit", "era_without_deposit"}
    assert set(table) == {clock_key(0), b"EFT1", b"EFT2"}
    again = _step(table, messages()[2])  # redelivered after a crash: the same records, same revisions
    assert [r.event_id for r in again.records] == [r.event_id for r in published.values() if r.trace_number == "EFT1"]
    assert all(r == published[r.event_id] for r in again.records)


def test_a_batch_gives_what_one_message_at_a_time_gives_and_writes_each_route_once() -> None:
    one_by_one: dict[bytes, bytes] = {}
    published_singly = [record for value in messages() for record in _step(one_by_one, value).records]
    table: dict[bytes, bytes] = {}
    batch = ReassociationBatch(lambda partition, key: table.get(key), 3)
    published = [record for value in messages() for record in batch.add(value, 0).records]
    writes = batch.writes()
    assert published == published_singly
    assert list(writes) == [0] and writes[0] == one_by_one


def test_facts_under_one_route_travel_as_one_message_and_give_what_they_give_one_by_one() -> None:
    inputs = [ReassociationInput.model_validate_json(value) for value in messages()[:4]]
    grouped = ReassociationInput.grouped(inputs)
    assert [(m.route, len(m.inputs())) for m in grouped] == [("EFT1", 3), ("EFT2", 1)]  # EFT1's first, in order
    assert grouped[0].key == b"EFT1" and grouped[1] == inputs[1]
    one_by_one: dict[bytes, bytes] = {}
    singly = [record for m in inputs for record in _step(one_by_one, m.model_dump_json().encode()).records]
    bundled: dict[bytes, bytes] = {}
    together = [record for m in grouped for record in _step(bundled, m.model_dump_json().encode()).records]
    assert sorted(r.model_dump_json() for r in together) == sorted(r.model_dump_json() for r in singly)
    assert bundled == one_by_one
    matcher = DepositMatcher()
    assert sorted(r.event_id for m in grouped for r in matcher.apply(m).records) == sorted(r.event_id for r in singly)


def test_each_partition_keeps_its_own_clock_and_an_old_shared_clock_is_read() -> None:
    era = ReassociationInput.of(remittance("EFT9", "2026-01-09", [claim("P9", "1", "40")], effective="2026-01-12"))
    tick = ReassociationInput.tick(dt.date(2026, 1, 20))
    table: dict[bytes, bytes] = {}  # one dict for every partition, as a memory store is
    batch = ReassociationBatch(lambda partition, key: table.get(key), 3)
    batch.add(era.model_dump_json().encode(), 1)
    overdue = batch.add(tick.model_dump_json().encode(), 1).records
    assert [r.status for r in overdue] == ["era_without_deposit"]
    assert batch.add(tick.model_dump_json().encode(), 2).records == []  # partition 2 holds no route of partition 1
    writes = batch.writes()
    assert set(writes[1]) == {b"EFT9", clock_key(1)} and set(writes[2]) == {clock_key(2)}
    legacy = {CLOCK_KEY: writes[1][clock_key(1)]}  # written by a worker from before per-partition clock keys
    later = ReassociationBatch(lambda partition, key: legacy.get(key), 3)
    earlier = ReassociationInput.tick(dt.date(2026, 1, 10))
    assert later.add(earlier.model_dump_json().encode(), 1).stream_time == dt.date(2026, 1, 20)  # time never goes back


def test_markers_and_bad_messages() -> None:
    table: dict[bytes, bytes] = {}
    marked, writes = apply_message(table, ReassociationInput(marker="m1").model_dump_json().encode())
    assert marked.marker == "m1" and marked.records == [] and writes == {}
    bad, _ = apply_message(table, b"{not json")
    assert bad.invalid and "format" in bad.invalid


def test_bank_ingest_keys_each_deposit_by_its_trace() -> None:
    data = nacha_file([BankPayment("EFT7", PAYER, Decimal("12.5"), dt.date(2026, 1, 5))])
    headers = [(SOURCE_FILE_HEADER, b"bank.ach"), (SOURCE_ID_HEADER, b"run-000001")]
    result = ingest_bank_file(data, headers, partition=0, offset=9)
    (message,) = ReassociationInput.grouped(ReassociationInput.of(d) for d in result.deposits)
    assert (message.key, message.deposit.amount, result.latest_date) == (b"EFT7", Decimal("12.50"), dt.date(2026, 1, 5))
    receipt = result.receipt()
    assert (receipt.stage, receipt.source_id, receipt.file, receipt.remittances) == (
        "ingested",
        "run-000001",
        "bank.ach",
        0,
    )


def test_deposit_metrics_count_outcomes_once_and_show_open_money() -> None:
    metrics = WorkerMetrics()
    table: dict[bytes, bytes] = {}
    for value in messages():
        metrics.reassociations(_step(table, value).records)
    metrics.reassociations(_step(table, messages()[2]).records)  # a redelivery counts nothing again

    def value(name: str, **labels: str) -> float:
        return metrics.registry.get_sample_value(name, labels)

    assert value("takeback_deposits_total", outcome="matched") == 1
    assert value("takeback_deposits_total", outcome="duplicate_deposit") == 1
    assert value("takeback_deposits_total", outcome="era_without_deposit") == 1
    assert value("takeback_deposits_unmatched_dollars", kind="missing") == 150
    assert value("takeback_deposits_unmatched_dollars", kind="duplicate") == 300
    assert value("takeback_deposits_unmatched_dollars", kind="unposted") == 0
    midnight = dt.datetime(2026, 1, 12, tzinfo=dt.UTC).timestamp()
    assert value("takeback_deposits_oldest_open_item_timestamp_seconds") == midnight


def test_open_money_shows_once_a_bank_feed_is_connected_and_goes_down_when_a_late_deposit_arrives() -> None:
    metrics = WorkerMetrics()
    table: dict[bytes, bytes] = {}
    late = [*messages()[:2], messages()[4]]  # both ERAs, then stream time past their wait: both missing
    for value in late:
        metrics.reassociations(_step(table, value).records)
    missing = metrics.registry.get_sample_value("takeback_deposits_unmatched_dollars", {"kind": "missing"})
    assert missing == 0  # rules §10: no bank file has brought a deposit for this payee yet: no feed, nothing missing
    metrics.reassociations(_step(table, messages()[2]).records)  # EFT1's 300 arrives after all: the feed is there
    missing = metrics.registry.get_sample_value("takeback_deposits_unmatched_dollars", {"kind": "missing"})
    assert missing == 150
    oldest = metrics.registry.get_sample_value("takeback_deposits_oldest_open_item_timestamp_seconds")
    assert oldest == dt.datetime(2026, 1, 12, tzinfo=dt.UTC).timestamp()


def test_the_oldest_open_date_follows_items_opening_and_closing_in_any_order() -> None:
    """OpenDates against the plain answer (min over the dates with open items), over random opens and closes."""
    rng = random.Random(4)
    dates, counts, open_items = OpenDates(), collections.Counter(), []
    for _ in range(2_000):
        if open_items and rng.random() < 0.45:
            day = open_items.pop(rng.randrange(len(open_items)))
            dates.count(day, -1)
            counts[day] -= 1
        else:
            day = dt.date(2026, 1, 1) + dt.timedelta(days=rng.randrange(60))
            open_items.append(day)
            dates.count(day, 1)
            counts[day] += 1
        assert dates.oldest() == min((d for d, n in counts.items() if n), default=None)
    for day in open_items:
        dates.count(day, -1)
    assert dates.oldest() is None


def returned(bank_ref: str, amount: str, date: str) -> Deposit:
    """A NACHA return of the entry `bank_ref` (it carries no TRN)."""
    return Deposit(
        deposit_id=f"r-{bank_ref}",
        source=SourceRef(file="returns.ach", line=3),
        format="nacha",
        amount=-Decimal(amount),
        effective_date=dt.date.fromisoformat(date),
        return_reason="R01",
        returned_trace=bank_ref,
    )


def test_a_return_reaches_its_credit_in_any_partition_before_or_after_it_and_once() -> None:
    era = ReassociationInput.of(remittance("EFT5", "2026-01-09", [claim("P5", "1", "120")], effective="2026-01-12"))
    credit = ReassociationInput.of(deposit("EFT5", "120", "2026-01-12").model_copy(update={"bank_reference": "T55"}))
    back = ReassociationInput.of(returned("T55", "120", "2026-01-14"))
    assert back.route is None and back.to_every_partition  # a return names no trace: every partition gets it
    finals = []
    for order in ([era, credit, back], [back, era, credit], [era, back, credit]):
        tables: dict[int, dict[bytes, bytes]] = {0: {}, 1: {}}  # partition 0 owns EFT5; 1 sees only the return
        published: dict[str, Reassociation] = {}
        for number, message in enumerate([*order, back]):  # the return again: a redelivery, or a file read twice
            before = dict(published)
            for partition in (0, 1) if message.to_every_partition else (0,):
                batch = ReassociationBatch(lambda p, key: tables[p].get(key), 3)  # noqa: B023 (used at once)
                for record in batch.add(message.model_dump_json().encode(), partition).records:
                    published[record.event_id] = record
                for p, writes in batch.writes().items():
                    tables[p].update(writes)
            if number == len(order):
                assert published == before  # seen before: the same records, the same revisions
        statuses = sorted((r.status, r.revision) for r in published.values())
        assert [s for s, _ in statuses] == ["awaiting_deposit", "deposit_returned"]
        assert not any(key.startswith(b"EFT") for key in tables[1])  # partition 1 keeps the return waiting, no route
        finals.append({i: r.model_dump(exclude={"revision"}) for i, r in published.items()})
    assert finals[0] == finals[1] == finals[2]
    matcher = DepositMatcher()
    for message in (back, credit, era):
        matcher.apply(message)
    assert {r.event_id: r.model_dump(exclude={"revision"}) for r in matcher.current()} == finals[0]
