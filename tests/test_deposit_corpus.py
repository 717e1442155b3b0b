"""The public ERA corpus with a generated bank file of its deposits: some missing, one short by a
takeback, one extra. Each payment must get exactly the outcome its construction gives it (rules §10)."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import pytest

from streams.domain.bank.offline import ReassociationResult, reassociate_files
from streams.domain.bank.reassociation import MatchKey
from streams.samples import CORPUS_DIR
from tests.support.corpus_deposits import EXTRA, bank_files_for

Replayed = tuple[ReassociationResult, dict[MatchKey, str], list[Path]]


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS_DIR.iterdir() if p.name != "SOURCES.md")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    bank_files, expected = bank_files_for(corpus_files(), tmp_path_factory.mktemp("bank"))
    return reassociate_files([*corpus_files(), *bank_files]), expected, bank_files


def key_of(record: dict) -> MatchKey:
    method = record["payment_method"]
    return (method, "" if method == "CHK" else record["payer_id"], record["trace_number"])


def test_every_payment_gets_the_outcome_it_was_built_for(replayed: Replayed) -> None:
    result, expected, _ = replayed
    got = {key_of(r.model_dump()): r.status for r in result.records.values()}
    assert got == expected
    assert not [d for d in result.dead_letters if d.source.file in ("deposits.ach", "statement.bai")]


def test_the_short_deposit_is_explained_by_its_takeback(replayed: Replayed) -> None:
    result, _, _ = replayed
    (mismatch,) = [r for r in result.records.values() if r.status == "amount_mismatch"]
    takebacks = {t.event_id: t for t in result.takebacks}
    assert mismatch.difference < 0 and mismatch.explained_by
    assert sum(takebacks[i].amount for i in mismatch.explained_by) == -mismatch.difference
    assert all(takebacks[i].remittance_id in mismatch.remittance_ids for i in mismatch.explained_by)


def test_the_bank_files_anywhere_among_the_eras_give_the_same_records(replayed: Replayed) -> None:
    result, _, bank_files = replayed
    baseline = {i: r.model_dump(exclude={"revision", "deposit_source"}) for i, r in result.records.items()}
    files = corpus_files()
    for cut in (0, len(files) // 2):
        for bank in itertools.permutations(bank_files):
            again = reassociate_files([*files[:cut], *bank, *files[cut:]])
            records = {i: r.model_dump(exclude={"revision", "deposit_source"}) for i, r in again.records.items()}
            assert records == baseline, f"bank files at {cut}, in order {[p.name for p in bank]}"


def test_positions_per_provider_add_up_to_the_records(replayed: Replayed) -> None:
    result, _, _ = replayed
    records = list(result.records.values())
    rows = result.positions
    assert {row.provider_id for row in rows} == {r.provider_id for r in records}
    assert all(row.bank_feed_connected for row in rows)  # the bank files brought deposits
    missing = sum((r.era_amount for r in records if r.status == "era_without_deposit"), Decimal(0))
    assert sum((row.missing_amount for row in rows), Decimal(0)) == missing > 0
    (unknown,) = [row for row in rows if row.provider_id is None]
    assert unknown.unposted_amount == EXTRA.amount and unknown.open_items_by_age == {"over-120": 1}
    for row in rows:
        assert sum(row.open_items_by_age.values()) == sum(
            row.counts.get(s, 0) for s in ("era_without_deposit", "deposit_without_era", "amount_mismatch")
        ) + row.counts.get("duplicate_deposit", 0)
        assert sum((p.deposit_amount for p in row.by_payer), Decimal(0)) == row.deposit_amount
