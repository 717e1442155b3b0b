"""The pages' deposits section without a browser or broker (rules §10): sentences, the records list, the per-payer
money and ages (the domain's positions, so the pages and GET /deposits agree), the deposits no ERA names, the
downloads and the provider page's HTML. Built from the hand-written deposit scenarios, matched by the domain."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest

from schemas import Reassociation, ReassociationStatus
from streams.deposit_views import GatheredDeposits
from streams.domain.bank.offline import ReassociationResult, reassociate_files
from streams.pages import deposits, tables
from streams.pages.exports import csv_chunks
from streams.pages.filters import BadFilter, Paging, WorklistFilter
from streams.pages.queries import TakebackIndex
from streams.pages.render import environment
from streams.pages.statement import build_statement
from streams.pages.views import Loaded, deposit_context, provider_context
from tests.test_deposit_scenarios import ALL_SCENARIOS
from tests.test_pages_unit import provider

SCENARIO_PROVIDER = "1000000038"


@pytest.fixture(scope="module")
def matched() -> ReassociationResult:
    return reassociate_files([f for s in ALL_SCENARIOS for f in s.files])


def records(result: ReassociationResult) -> list[Reassociation]:
    return list(result.records.values())


def owners(result: ReassociationResult) -> dict[str, str]:
    return {t.event_id: t.provider_id for t in result.takebacks}


def one(result: ReassociationResult, status: str) -> Reassociation:
    return next(r for r in records(result) if r.status == status)


def test_every_status_has_words_and_a_sentence_with_its_amounts(matched: ReassociationResult) -> None:
    assert set(deposits.STATUS_WORDS) == {s.value for s in ReassociationStatus}
    seen = {r.status for r in records(matched)}
    assert seen == {s for s in ReassociationStatus if s != ReassociationStatus.awaiting_deposit}
    mismatch = one(matched, "amount_mismatch")  # bank 500.00, ERA 420.00, a takeback of 80.00
    assert deposits.sentence(mismatch) == (
        "The bank shows $500.00 but the ERA paid $420.00: $80.00 more arrived; the difference is the takebacks below."
    )
    short = mismatch.model_copy(update={"deposit_amount": Decimal("340.00"), "difference": Decimal("-80.00")})
    assert "$340.00 but the ERA paid $420.00: $80.00 less arrived" in deposits.sentence(short)
    unexplained = short.model_copy(update={"explained_by": []})
    assert "No takeback of this ERA explains it" in deposits.sentence(unexplained)
    missing = one(matched, "era_without_deposit")
    assert f"says ${missing.era_amount:,.2f} was sent" in deposits.sentence(missing)
    assert str(missing.due_date) in deposits.sentence(missing)
    assert "$275.00" in deposits.sentence(one(matched, "deposit_without_era"))
    assert "a second time" in deposits.sentence(one(matched, "duplicate_deposit"))
    assert "nothing to do" in deposits.sentence(one(matched, "matched"))
    awaiting = missing.model_copy(update={"status": ReassociationStatus.awaiting_deposit})
    assert "is on its way" in deposits.sentence(awaiting)
    returned = one(matched, "deposit_returned")
    assert "returned it (R03)" in deposits.sentence(returned) and "$180.00" in deposits.sentence(returned)
    debit = missing.model_copy(update={"era_amount": Decimal("-150.00")})
    assert "takes $150.00 from your account (a debit ERA), but no bank debit" in deposits.sentence(debit)


def test_records_are_the_providers_newest_first_filtered_with_their_takebacks(matched: ReassociationResult) -> None:
    mine = deposits.of_provider(records(matched), SCENARIO_PROVIDER)
    assert mine and all(r.provider_id == SCENARIO_PROVIDER for r in mine)
    lines = deposits.deposit_lines(mine, owners(matched))
    dates = [line.date for line in lines]
    assert dates == sorted(dates, reverse=True) and len(lines) == len(mine)
    wanted = deposits.DepositFilter.parse({"deposit_status": "amount_mismatch"})
    (line,) = deposits.deposit_lines(mine, owners(matched), wanted)
    assert [x.event_id for x in line.explainers] == line.record.explained_by != []
    assert all(x.provider_id == SCENARIO_PROVIDER for x in line.explainers)
    with pytest.raises(BadFilter) as raised:
        deposits.DepositFilter.parse({"deposit_status": "lost"})
    assert raised.value.field == "deposit_status"
    paging = deposits.deposit_paging({"deposits_limit": "2", "deposits_offset": "4", "limit": "9"})
    assert paging == Paging(limit=2, offset=4)


def test_money_per_payer_and_ages_are_the_positions_of_get_deposits(matched: ReassociationResult) -> None:
    (expected,) = [p for p in matched.positions if p.provider_id == SCENARIO_PROVIDER]
    row = deposits.provider_position(records(matched), SCENARIO_PROVIDER, expected.as_of)
    assert row == expected
    *payers, total = deposits.payer_money(row)
    assert total.payer_id == "all payers"
    assert (total.era_amount, total.deposit_amount) == (expected.era_amount, expected.deposit_amount)
    assert total.difference == expected.deposit_amount - expected.era_amount
    assert sum((p.era_amount for p in payers), Decimal(0)) == total.era_amount
    ages = deposits.open_by_age(row)
    assert [a.age for a in ages] == ["0–30 days", "31–60 days", "61–90 days", "91–120 days", "over 120 days", "total"]
    assert ages[-1].items == sum(expected.open_items_by_age.values()) == total.open_items > 0
    assert ages[-1].amount == sum(expected.open_amount_by_age.values(), Decimal(0))


def test_deposits_no_era_names_are_summed_for_the_overview(matched: ReassociationResult) -> None:
    summary = deposits.no_era_summary(records(matched))
    assert [(s.status, s.count, s.total) for s in summary] == [
        ("no ERA", 1, Decimal("275.00")),
        ("ERA not due yet", 1, Decimal("40.00")),
    ]
    assert summary[0].oldest == one(matched, "deposit_without_era").deposit_date
    assert {r.status for r in deposits.without_provider(records(matched))} == {"deposit_without_era", "awaiting_era"}


def test_the_deposits_csv_has_the_records_figures(matched: ReassociationResult) -> None:
    lines = deposits.deposit_lines(records(matched), owners(matched))
    text = b"".join(csv_chunks(tables.DEPOSITS, lines)).decode().removeprefix("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(lines)
    mismatch = next(r for r in rows if r["Status"] == "amount_mismatch")
    assert (mismatch["ERA paid"], mismatch["Bank shows"], mismatch["Difference"]) == ("420.00", "500.00", "80.00")
    assert mismatch["Explained by takebacks"] == one(matched, "amount_mismatch").explained_by[0]
    assert "the takebacks below" in mismatch["What it means"]


def test_the_provider_page_shows_the_deposits_section_with_takeback_links(matched: ReassociationResult) -> None:
    data = provider()
    loaded = Loaded(data, TakebackIndex.build(data.takebacks))
    moved = [r.model_copy(update={"provider_id": data.provider_id}) for r in records(matched) if r.provider_id]
    gathered = GatheredDeposits(moved, matched.positions[0].as_of, owners(matched))
    wanted = deposits.DepositFilter("amount_mismatch")
    context = provider_context(loaded, WorklistFilter(), Paging()) | deposit_context(
        data.provider_id, gathered, wanted, Paging()
    )
    html = environment().get_template("provider.html").render(include_patient_data=False, **context)
    (takeback,) = one(matched, "amount_mismatch").explained_by
    assert f'href="/providers/{SCENARIO_PROVIDER}/takebacks/{takeback}"' in html
    assert "the difference is the takebacks below" in html and "ERA payments and bank deposits" in html
    assert f"(provider {SCENARIO_PROVIDER})" in html  # the takeback is another provider's: its page says so
    assert 'href="/providers/' + data.provider_id + '/deposits.csv?deposit_status=amount_mismatch"' in html


def test_the_statement_sums_deposits_to_date_and_lists_those_of_the_period(matched: ReassociationResult) -> None:
    data = provider()
    moved = [r.model_copy(update={"provider_id": data.provider_id}) for r in records(matched) if r.provider_id]
    january = build_statement(data, dt.date(2026, 1, 13), dt.date(2026, 1, 31), moved)
    assert january.deposits and all(dt.date(2026, 1, 13) <= line.date for line in january.deposits)
    assert len(january.deposits) < len(moved)
    summary = {line.item: line.amount for line in january.summary}
    row = deposits.provider_position(moved, data.provider_id, None)
    assert summary["Money per ERAs to date (payments that expect a deposit)"] == row.era_amount
    assert summary["Difference, bank − ERAs"] == row.deposit_amount - row.era_amount
    assert summary["ERA payments whose money has not arrived"] == row.missing_amount > 0
    without = build_statement(data, None, None)
    assert without.deposits == [] and "Money per bank to date" not in {line.item for line in without.summary}


def test_with_no_bank_feed_connected_an_era_without_deposit_is_not_money_missing(matched: ReassociationResult) -> None:
    """Rules §10: until a bank file brings a deposit for one of a payee's ERAs, nothing is missing, and the page says
    why; once one arrives, outcomes are as before."""
    data = provider()
    loaded = Loaded(data, TakebackIndex.build(data.takebacks))
    missing = one(matched, "era_without_deposit").model_copy(update={"provider_id": data.provider_id})
    as_of = matched.positions[0].as_of

    def page_of(found: list[Reassociation]) -> tuple[str, object]:
        gathered = GatheredDeposits(found, as_of, {})
        context = deposit_context(data.provider_id, gathered, deposits.DepositFilter(), Paging())
        html = (
            environment()
            .get_template("provider.html")
            .render(include_patient_data=False, **provider_context(loaded, WorklistFilter(), Paging()), **context)
        )
        return html, deposits.provider_position(found, data.provider_id, as_of)

    html, row = page_of([missing])
    assert not row.bank_feed_connected
    assert row.missing_amount == 0 and row.open_items_by_age == {} and row.oldest_open_item is None
    assert "No bank feed connected" in html and ">money missing</span>" not in html
    assert '<span class="status deposit-status-no_feed">no bank feed connected</span>' in html
    assert "Takeback cannot tell whether it arrived" in html

    matched_one = one(matched, "matched").model_copy(update={"provider_id": data.provider_id})
    html, row = page_of([missing, matched_one])
    assert row.bank_feed_connected
    assert row.missing_amount == missing.era_amount and sum(row.open_items_by_age.values()) == 1
    assert "No bank feed connected" not in html and ">money missing</span>" in html


def test_the_missing_money_metric_waits_for_a_bank_feed(matched: ReassociationResult) -> None:
    from streams.metrics import WorkerMetrics

    metrics = WorkerMetrics(10, 10)
    missing = one(matched, "era_without_deposit").model_copy(update={"provider_id": "1111111111"})
    metrics.reassociations([missing])
    assert metrics._unmatched["missing"] == 0  # no feed: no "money missing" alert
    arrived = one(matched, "matched").model_copy(update={"provider_id": "1111111111", "event_id": "other"})
    metrics.reassociations([arrived])
    assert metrics._unmatched["missing"] == missing.era_amount
