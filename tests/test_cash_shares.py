"""An NPI's net cash row is the sum of its ledgers' shares (rules §5, §8): `combine_shares`."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import NetCashRow, PayerCash
from streams.domain.cash import AGE_BUCKETS, BUCKETS, EXPLAINS, invariant_holds
from streams.domain.cash_shares import add_share, combine_shares, latest_share, shares_from_json
from streams.domain.offline import apply_all, read_files
from streams.kafka_io import read_topic
from streams.runner import feed_and_collect, isolated, running_pipeline
from streams.samples import CORPUS_DIR
from streams.settings import Settings

NEVADA = "edi835parser_835_5010_nevada_medicaid_3st_plb_ct_cs_unpadded_isa.txt"
SCENARIO_49 = Path(__file__).resolve().parent / "scenarios" / "49_npi_under_two_tins_and_none"
NPI_49 = "1000004901"
AGES = [label for label, _, _ in AGE_BUCKETS]

amounts = st.decimals(min_value=-10_000, max_value=10_000, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def cash_columns(draw: st.DrawFn) -> dict[str, Decimal]:
    """Columns that satisfy the invariant, as every ledger's rows do (rules §8)."""
    terms = {term: draw(amounts) for term in EXPLAINS}
    return {"net_cash": sum((sign * terms[t] for t, sign in EXPLAINS.items()), Decimal("0")), **terms}


@st.composite
def shares_of_one_npi(draw: st.DrawFn) -> list[NetCashRow]:
    keys = draw(st.lists(st.sampled_from(["tin-aaa", "tin-bbb", "tin-ccc", "1000000001"]), min_size=1, unique=True))
    dates = st.none() | st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31))
    counts = st.dictionaries(st.sampled_from(["reversal", "recoupment", "reused_trace_number"]), st.integers(0, 9))
    shares = []
    for key in keys:
        payers = draw(st.lists(st.sampled_from(["P1", "P2", "P3"]), unique=True))
        shares.append(
            NetCashRow(
                provider_id="1000000001",
                ledger_key=key,
                revision=draw(st.integers(0, 50)),
                **draw(cash_columns()),
                takebacks_by_kind=draw(counts),
                flags=draw(counts),
                oldest_open_forward_balance=draw(dates),
                open_by_age={label: draw(amounts) for label in AGES},
                last_remittance_date=draw(dates),
                by_payer=[PayerCash(payer_id=p, **draw(cash_columns())) for p in sorted(payers)],
            )
        )
    return shares


@settings(max_examples=200, deadline=None)
@given(shares=shares_of_one_npi(), data=st.data())
def test_the_combined_row_sums_the_shares_in_any_order_and_keeps_the_invariant(
    shares: list[NetCashRow], data: st.DataObject
) -> None:
    combined = combine_shares(shares)
    assert invariant_holds(combined)
    assert all(invariant_holds(p) for p in combined.by_payer)
    for bucket in BUCKETS:
        assert getattr(combined, bucket) == sum((getattr(s, bucket) for s in shares), Decimal("0"))
    for payer in combined.by_payer:
        parts = [p for s in shares for p in s.by_payer if p.payer_id == payer.payer_id]
        assert payer.net_cash == sum((p.net_cash for p in parts), Decimal("0"))
    assert combined.revision == sum(s.revision for s in shares)
    assert combined.open_by_age == {a: sum((s.open_by_age[a] for s in shares), Decimal("0")) for a in AGES}
    top = max(s.revision for s in shares)
    assert combined.ledger_key == min(s.ledger_key for s in shares if s.revision == top)
    reordered = combine_shares(data.draw(st.permutations(shares)))
    assert reordered.model_dump_json() == combined.model_dump_json()


def test_one_share_comes_back_unchanged() -> None:
    """Every row the corpus's ledgers publish, combined alone, is the same JSON, byte for byte."""
    remittances, _ = read_files(sorted(CORPUS_DIR.iterdir()))
    result = apply_all(remittances)
    shares = [share for by_ledger in result.shares.values() for share in by_ledger.values()]
    assert len(shares) > 10
    for share in shares:
        assert combine_shares([share]).model_dump_json() == share.model_dump_json()


def test_the_corpus_npi_paid_under_two_tins_has_the_sum_of_both() -> None:
    """The Nevada Medicaid sample pays NPI 6666666666 under two TINs: a ledger each (rules §5); its row adds both.
    (Both payments are zero: scenario 49_npi_under_two_tins_and_none checks the money.)"""
    result = apply_all(read_files([CORPUS_DIR / NEVADA])[0])
    shares = list(result.shares["6666666666"].values())
    assert len({s.ledger_key for s in shares}) == 2
    row = result.net_cash["6666666666"]
    for bucket in BUCKETS:
        assert getattr(row, bucket) == sum((getattr(s, bucket) for s in shares), Decimal("0"))
    assert row.revision == sum(s.revision for s in shares) == 2  # a remittance in each ledger
    assert row.ledger_key == min(s.ledger_key for s in shares)  # a tie: the lower key
    assert invariant_holds(row)


def test_a_share_older_than_the_one_kept_changes_nothing() -> None:
    newer = NetCashRow(provider_id="1", ledger_key="tin-a", revision=3, net_cash=Decimal("5"), claim_payments=5)
    older = NetCashRow(provider_id="1", ledger_key="tin-a", revision=2, net_cash=Decimal("1"), claim_payments=1)
    assert latest_share(newer, older) is newer
    assert latest_share(older, newer) is newer
    assert latest_share(None, older) is older


def test_shares_that_cannot_be_combined_say_why() -> None:
    with pytest.raises(ValueError, match="no share"):
        combine_shares([])
    with pytest.raises(ValueError, match="2 providers"):
        combine_shares([NetCashRow(provider_id="1", ledger_key="a"), NetCashRow(provider_id="2", ledger_key="b")])
    with pytest.raises(ValueError, match="one ledger"):
        combine_shares([NetCashRow(provider_id="1", ledger_key="a"), NetCashRow(provider_id="1", ledger_key="a")])


def test_a_share_delivered_again_stores_nothing_and_gives_the_same_row() -> None:
    """The cash agent's redelivery case: the stored shares do not change and the row combines to the same JSON."""
    first = NetCashRow(provider_id="1", ledger_key="tin-a", revision=2, net_cash=Decimal("5"), claim_payments=5)
    other = NetCashRow(provider_id="1", ledger_key="1", revision=1, net_cash=Decimal("3"), claim_payments=3)
    stored, _ = add_share(None, first)
    stored, row = add_share(stored, other)
    assert stored is not None and (row.net_cash, row.revision, row.ledger_key) == (Decimal("8"), 3, "tin-a")
    again, same = add_share(stored, other)
    assert again is None and same.model_dump_json() == row.model_dump_json()
    stale, kept = add_share(stored, first.model_copy(update={"revision": 1, "net_cash": Decimal("0")}))
    assert stale is None and kept.net_cash == Decimal("8")
    assert set(shares_from_json(stored)) == {"tin-a", "1"}


# --------------------------------------------------------------------------- through the broker


def latest_rows(settings: Settings) -> dict[str, NetCashRow]:
    rows: dict[str, NetCashRow] = {}
    for value in asyncio.run(read_topic(settings, settings.topic_names.net_cash, idle_seconds=0)):
        row = NetCashRow.model_validate_json(value)
        if row.provider_id not in rows or rows[row.provider_id].revision < row.revision:
            rows[row.provider_id] = row
    return rows


@pytest.mark.broker
def test_the_cash_agent_publishes_the_sum_that_replay_writes(broker, tmp_path: Path) -> None:
    """Scenario 49 through a worker: the row on `net-cash` (the cash agent's) is the sum of the NPI's three ledgers,
    the same JSON as replay's, which sums the shares itself."""
    files = sorted(SCENARIO_49.glob("*.835"), reverse=True)  # the reversal first: its ledger re-derives
    live = isolated(Settings(broker=broker.url, session_timeout=2.0)).with_overrides(data_dir=tmp_path)
    with running_pipeline(live, live.broker, tmp_path) as pipeline:
        results = asyncio.run(feed_and_collect(pipeline, files, timeout=120, progress=False))
        replayed = results.net_cash[NPI_49]
        assert (replayed.net_cash, replayed.revision) == (Decimal("700.00"), 4)
        assert len(results.shares[NPI_49]) == 3
        deadline = time.monotonic() + 60
        while (row := latest_rows(live).get(NPI_49)) is None or row.revision < replayed.revision:
            assert time.monotonic() < deadline, f"no combined row on net-cash: last {row}"
            time.sleep(0.5)
    assert row.model_dump_json() == replayed.model_dump_json()
    assert invariant_holds(row)
