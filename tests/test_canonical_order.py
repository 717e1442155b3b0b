"""The pre-read that places an input in the ledger's canonical order, and backfills sorted by it."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from streams.domain.canonical_order import earliest_order_key, order_key, set_order_keys
from streams.domain.facts import facts_of
from streams.domain.x12 import read_835
from streams.inputs import in_canonical_order
from tests.support.builders import claim, remittance
from tests.support.era_mix import envelope, era_stream, transaction

SCENARIOS = Path(__file__).parent / "scenarios"


def an_835(*sets: tuple[str, dt.date, dt.date | None]) -> bytes:
    """An 835 with one set per (trace, BPR16 date, DTM*405 date or None for no DTM*405)."""
    built = []
    for control, (trace, effective, production) in enumerate(sets, start=1):
        st = transaction(control, "1111111111", "1500000000", trace, effective, [], [], 0)
        dtm = next(i for i, segment in enumerate(st) if segment.startswith("DTM*405"))
        if production is None:
            del st[dtm]
        else:
            st[dtm] = f"DTM*405*{production:%Y%m%d}"
        built.append(st)
    return envelope(built, 1, dt.date(2026, 1, 1))


def reader_keys(data: bytes) -> list[tuple[str, str]]:
    return [facts_of(r).order_key()[:2] for r in read_835(data).remittances]


def test_the_production_date_places_a_set_before_its_payment_date() -> None:
    data = an_835(("T1", dt.date(2026, 3, 9), dt.date(2026, 3, 2)), ("T2", dt.date(2026, 3, 1), None))
    assert [k[:2] for k in set_order_keys(data)] == [("2026-03-02", "T1"), ("2026-03-01", "T2")]
    assert earliest_order_key(data)[:2] == ("2026-03-01", "T2")


def test_numeric_traces_compare_as_numbers_as_in_the_ledger() -> None:
    day = dt.date(2026, 3, 2)
    small, large = (earliest_order_key(an_835((trace, day, day))) for trace in ("99871", "100342"))
    assert small < large
    assert small == order_key(day, "99871", "")


@pytest.mark.parametrize("seed", [7, 8])
def test_the_pre_read_agrees_with_the_reader_and_the_ledgers_key(seed: int) -> None:
    for _, data in era_stream(3_000, providers=5, seed=seed):
        assert [k[:2] for k in set_order_keys(data)] == reader_keys(data)


def test_every_set_the_reader_accepts_in_the_corpus_and_scenarios_is_placed_as_the_ledger_places_it(
    corpus: Path,
) -> None:
    checked = 0
    for path in [*sorted(corpus.iterdir()), *sorted(SCENARIOS.rglob("*.835"))]:
        data = path.read_bytes()
        pre_read = [k[:2] for k in set_order_keys(data)]
        for key in reader_keys(data):  # sets the reader rejects become dead letters: their place does not matter
            assert key in pre_read, path.name
            checked += 1
    assert checked > 100


def test_a_json_remittance_is_placed_by_its_production_date_and_trace() -> None:
    event = remittance("CHK100", "2026-01-10", [claim("PCN1", "1", "100.00")], effective="2026-01-20")
    assert earliest_order_key(event.model_dump_json().encode()) == order_key(dt.date(2026, 1, 10), "CHK100", "")


def test_an_input_that_cannot_be_placed_sorts_first() -> None:
    assert earliest_order_key(b"not an 835 at all") == order_key(None, "", "")
    assert earliest_order_key(b'{"trace_number": ') == order_key(None, "", "")
    assert earliest_order_key(b'{"production_date": "2026-13-40"}') == order_key(None, "", "")


def test_a_shuffled_backfill_is_put_back_in_time_order_with_ties_in_the_order_given(tmp_path: Path) -> None:
    files = list(era_stream(4_000, providers=5))
    shuffled = files[:]
    random.Random(1).shuffle(shuffled)
    paths = []
    for index, (name, data) in enumerate(shuffled):
        path = tmp_path / f"{index:04d}-{name}"
        path.write_bytes(data)
        paths.append(path)
    ordered = in_canonical_order(paths)
    keys = [earliest_order_key(p.read_bytes()) for p in ordered]
    assert keys == sorted(keys)
    # the mix's traces follow its files, so canonical order is the order the files were made (a re-sent file,
    # the same payments in a new envelope, ties with the one it repeats)
    made = [p.name.split("-", 1)[1] for p in ordered if "resend" not in p.name]
    assert made == sorted(made) and len(made) > 10
