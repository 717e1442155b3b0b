"""Deadlines on the takeback events and what a person reads today (rules §11, §13), through the real ledger.

The 835s are the scenarios' (tests/scenarios/8N_*); here the operator's files (payer profiles, providers) and an
explicit "today" are added, which the scenario format has no place for. Expectations come from the rules: day N is
day 1 + N - 1, Medicare offsets on day 41, interest per full 30-day period on a 360-day year.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from schemas import Takeback
from streams.domain.deadlines.rule_tables import RuleTableError, load_rule_book
from streams.domain.deadlines.today import due, forecast_lines, is_due_within
from streams.domain.ledger import MatchPolicy, ProviderLedger, apply_remittance, cash_row
from streams.domain.offline import read_files
from streams.pages.queries import ProviderData
from streams.pages.statement import build_statement, write_statement
from streams.settings import Settings, match_policy

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
PROJECT_ROOT = Path(__file__).resolve().parents[1]
D = dt.date
PROFILES = "payer_id,name,kind,dispute_days,offset_days,appeal_days,citation,source_url,checked_on\n"


def ledger_of(scenario: str, policy: MatchPolicy, files: slice = slice(None)) -> ProviderLedger:
    remittances, dead = read_files(sorted((SCENARIOS / scenario).glob("*.835"))[files])
    assert not dead
    ledger = ProviderLedger(provider_id=remittances[0].payee.id)
    for remittance in remittances:
        apply_remittance(ledger, remittance, policy)
    return ledger


def by_claim(ledger: ProviderLedger, claim_id: str) -> Takeback:
    (found,) = [t for t in ledger.emitted.values() if t.claim_id == claim_id and not t.withdrawn]
    return found


def test_an_operator_provider_file_gives_the_state_and_a_profile_the_payers_clocks(tmp_path: Path) -> None:
    profiles, providers = tmp_path / "payers.csv", tmp_path / "providers.csv"
    profiles.write_text(
        PROFILES + "1512345678,SCENARIO HEALTH PLAN,commercial,30,45,180,Provider agreement § 7,,2026-12-01\n"
    )
    providers.write_text("provider_id,state,name\n1000000820,CA,SCENARIO CLINIC 82\n")
    policy = MatchPolicy(rules=load_rule_book(payer_profiles=profiles, providers=providers))
    ledger = ledger_of("82_lookback_inside_and_beyond_tx", policy)
    late = by_claim(ledger, "PCN8202")
    # the operator's word wins over the N4 (TX): California's 365 days, so 239 days is inside
    assert late.lookback is not None and (late.lookback.state, late.lookback.outcome) == ("CA", "inside")
    assert "beyond_lookback_limit" not in late.flags
    assert (late.payer_kind, late.payer_kind_found_by) == ("commercial", "payer profile")
    # settled (netted from its payment): the appeal clock alone, day 180 from 2025-09-02
    assert [(d.deadline_kind, d.act_by) for d in late.deadlines] == [("payer_appeal", D(2026, 2, 28))]
    assert late.deadline_source is not None and late.deadline_source.citation == "Provider agreement § 7"


def test_an_open_balance_with_a_profile_has_every_clock_and_is_forecast_on_its_offset_day(tmp_path: Path) -> None:
    profiles = tmp_path / "payers.csv"
    profiles.write_text(
        PROFILES + "1512345678,SCENARIO HEALTH PLAN,commercial,30,45,,Provider agreement § 7,,2026-12-01\n"
    )
    policy = MatchPolicy(rules=load_rule_book(payer_profiles=profiles))
    ledger = ledger_of("87_settlement_is_not_a_second_recovery", policy, slice(0, 2))  # carried, not yet settled
    carried = by_claim(ledger, "PCN8701")
    assert carried.status == "open" and carried.day_one == D(2026, 2, 2)
    assert [(d.deadline_kind, d.act_by) for d in carried.deadlines] == [
        ("dispute_notice", D(2026, 3, 3)),  # day 30
        ("payer_offset", D(2026, 3, 18)),  # day 45
    ]
    (line,) = forecast_lines(ledger.emitted.values(), D(2026, 3, 1), policy.rules, cash_row(ledger))
    assert (line.within_7_days, line.within_30_days, line.within_60_days) == (0, 300, 300)
    assert line.net_cash == Decimal("500.00") and line.net_cash_after_30_days == Decimal("200.00")
    assert line.undated == 0
    # without the profile the commercial payer has no offset day: summed apart, never guessed
    (plain,) = forecast_lines(
        ledger_of("87_settlement_is_not_a_second_recovery", MatchPolicy(), slice(0, 2)).emitted.values(),
        D(2026, 3, 1),
        MatchPolicy().rules,
    )
    assert (plain.undated, plain.within_60_days) == (300, 0)


def test_the_medicare_forecast_counts_day_41_and_what_is_due_today() -> None:
    policy = MatchPolicy()
    ledger = ledger_of("80_medicare_clocks_from_clp06_mb", policy)
    open_one, settled = by_claim(ledger, "PCN8001"), by_claim(ledger, "PCN8002")
    takebacks = ledger.emitted.values()
    # day 41 from 2026-02-02 is 2026-03-14: not within 7 days of 03-01, within 7 of 03-10; past ones count always
    assert [line.within_7_days for line in forecast_lines(takebacks, D(2026, 3, 1), policy.rules)] == [0]
    assert [line.within_7_days for line in forecast_lines(takebacks, D(2026, 3, 10), policy.rules)] == [300]
    assert [line.within_7_days for line in forecast_lines(takebacks, D(2026, 6, 1), policy.rules)] == [300]

    view = due(open_one, D(2026, 2, 20), policy.rules)
    assert view.next_deadline is not None and view.next_deadline.deadline_kind == "medicare_stop_recoupment"
    assert view.days_left == 11 and view.overdue  # the rebuttal day (02-16) has passed
    assert "may" in view.sentence and "2026-03-03" in view.sentence and "1893" in view.sentence
    assert view.interest_estimate is None  # nothing accrues within 30 days
    later = due(open_one, D(2026, 4, 10), policy.rules)  # 67 days: two full periods at 11.50 %
    assert later.interest_estimate is not None and later.interest_estimate.amount == Decimal("5.75")
    assert later.interest_estimate.periods == 2 and later.interest_estimate.rate_may_be_stale
    assert due(settled, D(2026, 4, 10), policy.rules).interest_estimate is None  # nothing owed: offset already
    assert is_due_within(open_one, D(2026, 2, 27), 7) and not is_due_within(open_one, D(2026, 2, 20), 7)
    assert view.lookback_sentence == "Look-back limits are checked for commercial payers only."


def test_the_statement_and_its_export_carry_the_forecast(tmp_path: Path) -> None:
    """`takeback report` and the statement download: the forecast sheet, counted from the given day."""
    ledger = ledger_of("80_medicare_clocks_from_clp06_mb", MatchPolicy())
    npi = "1000000800"
    data = ProviderData(npi, cash_row(ledger, npi), ledger.emitted, list(ledger.remittances.values()))
    statement = build_statement(data, None, None, today=D(2026, 3, 10))
    (line,) = statement.forecast
    assert (line.payer_id, line.within_7_days, line.net_cash_after_7_days) == ("1999999980", 300, Decimal("500.00"))
    write_statement(tmp_path / "s.csv", statement, include_patient_data=False)
    text = (tmp_path / "s.csv").read_text("utf-8")
    assert "Forecast: Expected offsets from 2026-03-10" in text and "1999999980,300.00,300.00,300.00" in text


def test_an_unknown_payer_says_why_there_is_no_deadline() -> None:
    ledger = ledger_of("81_no_deadline_provider_void_and_unknown_payer", MatchPolicy())
    unknown, void = by_claim(ledger, "PCN8102"), by_claim(ledger, "PCN8101")
    assert "payer's kind is not known" in due(unknown, D(2026, 2, 10), MatchPolicy().rules).sentence
    assert "void the provider asked for" in due(void, D(2026, 2, 10), MatchPolicy().rules).sentence


def test_a_bad_provider_file_names_its_file_and_line(tmp_path: Path) -> None:
    providers = tmp_path / "providers.csv"
    providers.write_text("provider_id,state,name\n1000000820,CA,OK\n1000000821,Texas,BAD\n")
    with pytest.raises(RuleTableError, match=r"providers.csv line 3: state 'Texas'"):
        load_rule_book(providers=providers)
    with pytest.raises(RuleTableError, match="cannot read it"):
        match_policy(Settings(providers=str(tmp_path / "missing.csv")))


def test_a_bad_operator_file_stops_the_cli_with_one_line_naming_file_and_line(tmp_path: Path) -> None:
    profiles = tmp_path / "payers.csv"
    profiles.write_text(PROFILES + "1234567890,ACME,commercial,30,soon,,Contract § 1,,2026-12-01\n")
    env = {**os.environ, "TAKEBACK_PAYER_PROFILES": str(profiles)}
    command = [sys.executable, "-m", "streams.cli", "dead-letters", "list"]
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, cwd=PROJECT_ROOT)
    assert run.returncode == 1
    assert run.stderr.strip() == f"takeback: {profiles} line 2: offset_days 'soon' is not valid"


def test_the_settings_load_the_operator_files_once(tmp_path: Path) -> None:
    providers = tmp_path / "providers.csv"
    providers.write_text("provider_id,state,name\n1000000820,CA,OK\n")
    settings = Settings(providers=str(providers))
    assert match_policy(settings).rules.providers["1000000820"].state == "CA"
    assert match_policy(settings) is match_policy(settings)
    assert match_policy(Settings()).rules.providers == {}
