"""An NPI's net cash row is the sum of its ledgers' shares (rules §5, §8): `combine_shares`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import NetCashRow, PayerCash
from streams.domain.cash import AGE_BUCKETS, BUCKETS, EXPLAINS, invariant_holds
from streams.domain.cash_shares import combine_shares, latest_share
from streams.domain.offline import apply_all, read_files
from streams.samples import CORPUS_DIR

NEVADA = "edi835parser_835_5010_nevada_medicaid_3st_plb_ct_cs_unpadded_isa.txt"
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
