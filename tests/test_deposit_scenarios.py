"""Hand-made reassociation scenarios (tests/scenarios_deposits/<NN_name>/), one per outcome of rules §10.

Each folder holds 835s and bank files (NACHA ``.ach``, BAI2 ``.bai``; sorted order = the order they
arrive) and ``expected.json``:

* ``reassociations``: the records, as a multiset; each entry lists only the fields it checks.
  ``explained_by_takebacks`` lists field subsets of the takebacks the record's ``explained_by`` names.
* ``dead_letters``: the dead letters, as a multiset of field subsets.
* ``positions`` (optional): field subsets of the positions of the providers named by their ``provider_id``.

Expectations are written from the rules, not from the program. Every arrival order must give the
same records (revisions aside).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.domain.bank.offline import ReassociationResult, reassociate_files
from streams.domain.bank.replay_lines import deposit_lines

SCENARIOS = Path(__file__).resolve().parent / "scenarios_deposits"
MONEY_FIELDS = frozenset({"era_amount", "deposit_amount", "difference", "amount", "missing_amount"})
INPUT_SUFFIXES = frozenset({".835", ".ach", ".bai"})


@dataclass(frozen=True)
class Scenario:
    name: str
    files: tuple[Path, ...]
    expected: dict[str, Any]


def load_scenarios() -> list[Scenario]:
    return [
        Scenario(
            folder.name,
            tuple(sorted(p for p in folder.iterdir() if p.suffix in INPUT_SUFFIXES)),
            json.loads((folder / "expected.json").read_text()),
        )
        for folder in sorted(p for p in SCENARIOS.iterdir() if p.is_dir())
    ]


ALL_SCENARIOS = load_scenarios()


def same_value(field: str, expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if field in MONEY_FIELDS:
        return Decimal(str(expected)) == Decimal(str(actual))
    return expected == actual


def matches(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    return all(field in actual and same_value(field, value, actual[field]) for field, value in expected.items())


def pair_up(what: str, expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> list[str]:
    """Problems when `expected` and `actual` do not pair one to one (lists are small: try every order)."""
    if len(expected) != len(actual):
        return [f"{what}: expected {len(expected)}, got {len(actual)}: {json.dumps(actual, default=str)}"]
    for order in itertools.permutations(actual):
        if all(matches(e, a) for e, a in zip(expected, order, strict=True)):
            return []
    return [f"{what}: no pairing of {expected} with {json.dumps(actual, default=str)}"]


def problems_of(scenario: Scenario, result: ReassociationResult) -> list[str]:
    takebacks = {t.event_id: t.model_dump(mode="json") for t in result.takebacks}
    records = [r.model_dump(mode="json") for r in result.records.values()]
    expected = [dict(e) for e in scenario.expected["reassociations"]]
    problems = []
    for entry in expected:  # check the takebacks named, then pair the rest of the fields
        wanted = entry.pop("explained_by_takebacks", None)
        if wanted is None:
            continue
        carriers = [r for r in records if matches(entry, r)]
        if not carriers:
            problems.append(f"no record like {entry}")
        for record in carriers:
            named = [takebacks[i] for i in record["explained_by"] if i in takebacks]
            problems += pair_up(f"explained_by of {record['trace_number']}", wanted, named)
    problems += pair_up("reassociations", expected, records)
    letters = [d.model_dump(mode="json") for d in result.dead_letters]
    problems += pair_up("dead_letters", scenario.expected.get("dead_letters", []), letters)
    positions = {p.provider_id: p.model_dump(mode="json") for p in result.positions}
    for entry in scenario.expected.get("positions", []):
        actual = positions.get(entry["provider_id"])
        if actual is None or not matches(entry, actual):
            problems.append(f"position {entry}: got {json.dumps(actual, default=str)}")
    return problems


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=lambda s: s.name)
def test_deposit_scenario(scenario: Scenario) -> None:
    problems = problems_of(scenario, reassociate_files(scenario.files))
    assert not problems, "\n".join(problems)


def outcome_of(files: tuple[Path, ...]) -> dict[str, dict]:
    result = reassociate_files(files)
    return {i: r.model_dump(mode="json", exclude={"revision", "deposit_source"}) for i, r in result.records.items()}


@pytest.mark.parametrize("scenario", [s for s in ALL_SCENARIOS if len(s.files) > 1], ids=lambda s: s.name)
def test_deposit_scenario_in_every_order(scenario: Scenario) -> None:
    baseline = outcome_of(scenario.files)
    for order in itertools.permutations(scenario.files):
        assert outcome_of(order) == baseline, f"records differ for order {[p.name for p in order]}"


def test_every_outcome_has_a_scenario() -> None:
    statuses = {e["status"] for s in ALL_SCENARIOS for e in s.expected["reassociations"]}
    outcomes = {"matched", "amount_mismatch", "era_without_deposit", "deposit_without_era", "duplicate_deposit"}
    assert outcomes | {"deposit_returned"} <= statuses


def test_deposits_jsonl_is_the_same_in_every_order_and_carries_the_contract_fields() -> None:
    scenario = next(s for s in ALL_SCENARIOS if s.name.startswith("02_"))
    lines = deposit_lines(reassociate_files(scenario.files).records.values())
    for order in itertools.permutations(scenario.files):
        assert deposit_lines(reassociate_files(order).records.values()) == lines
    rows = [json.loads(line) for line in lines]
    assert [(r["trace_number"], r["status"], r["difference"]) for r in rows] == [
        ("EFT2001", "matched", "0.00"),
        ("EFT2002", "amount_mismatch", "80.00"),
    ]
    assert rows[1]["era_amount"] == "420.00" and rows[1]["effective_date"] == "2026-01-20"
    assert set(rows[0]) >= {"deposit_id", "provider_id", "payer_id", "deposit_amount", "deposit_date", "remittance_id"}
