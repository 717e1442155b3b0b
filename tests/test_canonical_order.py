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


def reader_keys(data: bytes) -> list[tuple[str, ...]]:
    """(day, takes back, trace) of each remittance the reader gives, as its facts order it."""
    return [facts_of(r).order_key()[:3] for r in read_835(data).remittances]


def test_the_production_date_places_a_set_before_its_payment_date() -> None:
    data = an_835(("T1", dt.date(2026, 3, 9), dt.date(2026, 3, 2)), ("T2", dt.date(2026, 3, 1), dt.date(2026, 3, 1)))
    first, second = (order_key(dt.date(2026, 3, day), trace, "") for day, trace in ((2, "T1"), (1, "T2")))
    assert set_order_keys(data) == [first, second]
    assert earliest_order_key(data) == second


def test_without_dtm405_the_group_date_gs04_is_the_production_date_not_bpr16() -> None:
    # rules §3: TR3 sends DTM*405 only when it differs from GS04 (the envelope here is dated 2026-01-01)
    data = an_835(("T1", dt.date(2026, 3, 9), None))
    assert set_order_keys(data)[0][0] == "2026-01-01"
    assert reader_keys(data)[0][0] == "2026-01-01"


def test_digit_runs_of_a_trace_compare_as_numbers() -> None:
    day = dt.date(2026, 3, 2)
    keys = [order_key(day, trace, "") for trace in ("EFT10", "EFT9", "EFT9A", "EFT100")]
    assert [k[2] for k in sorted(keys)] == [order_key(day, t, "")[2] for t in ("EFT9", "EFT9A", "EFT10", "EFT100")]


def test_an_era_that_takes_back_sorts_after_the_payments_of_its_day() -> None:
    day = dt.date(2026, 3, 2)
    assert order_key(day, "1", "", takes_back=False) < order_key(day, "0", "", takes_back=True)
    assert order_key(day, "9", "", takes_back=True) < order_key(day + dt.timedelta(days=1), "0", "")
    paid = claim("PCN1", "1", "100.00")
    reversal = claim("PCN1", "22", "-100.00")
    for claims, expected in (([paid], "0"), ([paid, reversal], "1")):
        event = remittance("CHK1", "2026-03-02", claims).model_dump_json().encode()
        assert earliest_order_key(event)[1] == expected


def test_numeric_traces_compare_as_numbers_as_in_the_ledger() -> None:
    day = dt.date(2026, 3, 2)
    small, large = (earliest_order_key(an_835((trace, day, day))) for trace in ("99871", "100342"))
    assert small < large
    assert small == order_key(day, "99871", "")


@pytest.mark.parametrize("seed", [7, 8])
def test_the_pre_read_agrees_with_the_reader_and_the_ledgers_key(seed: int) -> None:
    for _, data in era_stream(3_000, providers=5, seed=seed):
        assert [k[:3] for k in set_order_keys(data)] == reader_keys(data)


def test_every_set_the_reader_accepts_in_the_corpus_and_scenarios_is_placed_as_the_ledger_places_it(
    corpus: Path,
) -> None:
    checked = 0
    for path in [*sorted(corpus.iterdir()), *sorted(SCENARIOS.rglob("*.835"))]:
        data = path.read_bytes()
        pre_read = [k[:3] for k in set_order_keys(data)]
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
    # the mix's traces follow its files, so of one day and kind (paying only, or taking back: rules §3) canonical
    # order is the order the files were made (a re-sent file, the same payments in a new envelope, ties with the
    # one it repeats)
    made: dict[tuple[str, str], list[str]] = {}
    for path, key in zip(ordered, keys, strict=True):
        if "resend" not in path.name:
            made.setdefault(key[:2], []).append(path.name.split("-", 1)[1])
    assert all(names == sorted(names) for names in made.values())
    assert sum(map(len, made.values())) > 10
