"""The reassociate agent's step over a plain dict (its table), and the deposit metrics (rules §10)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from schemas import Deposit, Reassociation, SourceRef
from streams.bank_ingest import ingest_bank_file
from streams.domain.bank.matcher import DepositMatcher, ReassociationInput
from streams.kafka_io import SOURCE_FILE_HEADER, SOURCE_ID_HEADER
from streams.metrics import WorkerMetrics
from streams.reassociate_step import CLOCK_KEY, StepResult, apply_message
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


def _step(table: dict[bytes, bytes], value: bytes) -> StepResult:
    step = apply_message(table, value, 3)
    step.store(table)
    return step


def test_a_crash_before_the_writes_publishes_the_same_revisions_again() -> None:
    table: dict[bytes, bytes] = {}
    for value in messages()[:2]:
        _step(table, value)
    first = apply_message(table, messages()[2], 3)  # published, then the worker died before storing
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
    assert CLOCK_KEY in table and set(table) == {CLOCK_KEY, b"EFT1", b"EFT2"}
    again = _step(table, messages()[2])  # redelivered after a crash: the same records, same revisions
    assert [r.event_id for r in again.records] == [r.event_id for r in published.values() if r.trace_number == "EFT1"]
    assert all(r == published[r.event_id] for r in again.records)


def test_markers_and_bad_messages() -> None:
    table: dict[bytes, bytes] = {}
    marked = apply_message(table, ReassociationInput(marker="m1").model_dump_json().encode(), 3)
    assert marked.marker == "m1" and marked.records == []
    bad = apply_message(table, b"{not json", 3)
    assert bad.invalid and "format" in bad.invalid


def test_bank_ingest_keys_each_deposit_by_its_trace() -> None:
    data = nacha_file([BankPayment("EFT7", PAYER, Decimal("12.5"), dt.date(2026, 1, 5))])
    headers = [(SOURCE_FILE_HEADER, b"bank.ach"), (SOURCE_ID_HEADER, b"run-000001")]
    result = ingest_bank_file(data, headers, partition=0, offset=9)
    (message,) = result.inputs()
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


def test_open_money_follows_each_events_latest_record_as_it_opens_and_closes() -> None:
    """The open amounts and the oldest open date are kept record by record: a later revision replaces the earlier."""
    metrics = WorkerMetrics()

    def record(event_id: str, revision: int, status: str, era: str, day: int) -> Reassociation:
        effective = dt.date(2026, 1, day)
        return Reassociation(
            event_id=event_id, revision=revision, status=status, era_amount=era, effective_date=effective
        )

    def open_money() -> tuple[float | None, float | None]:
        get = metrics.registry.get_sample_value
        oldest = get("takeback_deposits_oldest_open_item_timestamp_seconds")
        return get("takeback_deposits_unmatched_dollars", {"kind": "missing"}), oldest

    def midnight(day: int) -> float:
        return dt.datetime(2026, 1, day, tzinfo=dt.UTC).timestamp()

    metrics.reassociations(
        [record("a", 1, "era_without_deposit", "100", 5), record("b", 1, "era_without_deposit", "40", 9)]
    )
    assert open_money() == (140, midnight(5))
    metrics.reassociations([record("a", 2, "matched", "100", 5)])  # its deposit came: no longer open
    assert open_money() == (40, midnight(9))
    metrics.reassociations([record("a", 1, "era_without_deposit", "100", 5)])  # an older revision changes nothing
    assert open_money() == (40, midnight(9))
    metrics.reassociations([record("b", 2, "matched", "40", 9)])
    assert open_money() == (0, 0)
    assert metrics.registry.get_sample_value("takeback_deposits_total", {"outcome": "matched"}) == 2
