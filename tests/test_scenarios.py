"""Hand-made 835 scenarios (tests/scenarios/<NN_name>/): expectations written from the rules, not from the program.

Each folder holds 835 files (sorted order = chronological order) and ``expected.json``:

* ``takebacks``: the live takebacks, as a multiset; each entry lists only the fields it checks ("why" is a note).
* ``net_cash``: provider id -> the NetCashRow fields to check (money as Decimal; ``flags`` checked as a subset;
  ``by_payer``: payer id -> the PayerCash fields to check; ``open_by_age``: bucket -> amount, every bucket given).
* ``dead_letters``: the dead letters, as a multiset of field subsets.
* A list of objects (e.g. a takeback's ``settled_by``) is checked as a multiset of field subsets, extra entries allowed;
  a nested object (a takeback's ``lookback``) as a field subset.
* A field the model does not have yet is reported as such (a failure, which a ``known_gap`` covers), never a crash.
* ``flags``: claim id (or PLB reason code) -> flags every takeback of that claim (or code) must carry.
* ``known_gap`` (optional): the program disagrees with the rules; the scenario is a strict xfail with that reason.
  ``known_gap_order`` does the same for the order-independence test alone.

The same comparison checks the offline domain (``process_files``), every arrival order, and a real replay through
the broker (``python -m streams.cli replay``).  The cash invariant (rules §8) is checked on every row, provider and
per payer, of every scenario, in each of those three runs:

    net_cash = claim_payments - reversed - recouped + forward_balance + refunds + other_adjustments
               - not_moved + unexplained

``not_moved``: what remittances that moved no money (BPR01 H, or P/X without payment) reported as paid (rules §7);
``unexplained``: BPR02 minus what the claims and PLBs of an accepted unbalanced remittance explain (rules §7).  The
formula has one home, ``streams.domain.cash.invariant_holds``.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from schemas import NetCashRow, PayerCash, Takeback
from streams.broker import EmbeddedBroker
from streams.domain.cash import invariant_holds
from streams.domain.offline import OfflineResult, apply_all, process_files, read_files

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
PROJECT_ROOT = Path(__file__).resolve().parents[1]

MONEY_FIELDS = frozenset(
    {
        "amount",
        "correction_payment",
        "net_change",
        "net_cash",
        "claim_payments",
        "reversed",
        "recouped",
        "forward_balance",
        "refunds",
        "other_adjustments",
        "not_moved",
        "unexplained",
        "remaining",
        "refund_excess",
        "original_payment_amount",
        "claim_charge",
        "patient_responsibility_change",
        "recovered_twice_excess",
    }
)
NOTE_FIELDS = frozenset({"why"})
PAYEE = re.compile(rb"N1\*PE\*[^*~]*\*[^*~]*\*([^*~\r\n]+)")
MAX_PERMUTATIONS = 24
PERMUTATION_SEED = 835


@dataclass(frozen=True)
class Scenario:
    name: str
    files: tuple[Path, ...]
    expected: dict[str, Any]

    @property
    def payees(self) -> set[str]:
        """Every payee (N1*PE N104) of the scenario's files: each has a cash row to check."""
        return {m.decode() for file in self.files for m in PAYEE.findall(file.read_bytes())}


def load_scenarios() -> list[Scenario]:
    scenarios = []
    for folder in sorted(p for p in SCENARIOS.iterdir() if p.is_dir()):
        expected = json.loads((folder / "expected.json").read_text())
        files = tuple(sorted(p for p in folder.iterdir() if p.suffix == ".835"))
        scenarios.append(Scenario(folder.name, files, expected))
    return scenarios


ALL_SCENARIOS = load_scenarios()


def params(scenarios: Iterable[Scenario], gap_key: str = "known_gap") -> list[Any]:
    """One pytest param per scenario; a documented gap between rules and program becomes a strict xfail."""
    result = []
    for scenario in scenarios:
        gap = scenario.expected.get(gap_key)
        marks = [pytest.mark.xfail(reason=gap, strict=True)] if gap else []
        result.append(pytest.param(scenario, id=scenario.name, marks=marks))
    return result


# --------------------------------------------------------------------------- the one comparison


def same_value(field: str, expected: Any, actual: Any) -> bool:
    if expected is None or actual is None:
        return expected is None and actual is None
    if field in MONEY_FIELDS:
        return Decimal(str(expected)) == Decimal(str(actual))
    if field == "flags" and isinstance(expected, dict):  # counts on a cash row: the listed ones must match
        return all(actual.get(key) == count for key, count in expected.items())
    if field == "open_by_age":  # bucket -> amount, every bucket
        return (
            isinstance(actual, dict)
            and set(expected) == set(actual)
            and all(Decimal(str(amount)) == Decimal(str(actual[bucket])) for bucket, amount in expected.items())
        )
    if field == "by_payer":  # payer id -> PayerCash fields
        rows = {row.get("payer_id"): row for row in actual if isinstance(row, dict)}
        return all(
            payer in rows and all(same_value(f, v, rows[payer].get(f)) for f, v in fields.items())
            for payer, fields in expected.items()
        )
    if isinstance(expected, dict) and isinstance(actual, dict):  # a nested object (a takeback's lookback): a subset
        return matches(expected, actual)
    if isinstance(expected, list) and expected and all(isinstance(e, dict) for e in expected):
        return (
            isinstance(actual, list)
            and all(isinstance(a, dict) for a in actual)
            and not match_multiset(field, expected, actual, exact_count=False)
        )
    return expected == actual


def matches(expected: dict[str, Any], actual: dict[str, Any]) -> bool:
    return all(
        field in actual and same_value(field, value, actual[field])
        for field, value in expected.items()
        if field not in NOTE_FIELDS
    )


def match_multiset(
    what: str, expected: list[dict[str, Any]], actual: list[dict[str, Any]], *, exact_count: bool = True
) -> list[str]:
    """Problems when `expected` and `actual` do not pair one to one (bipartite matching, lists are small).

    Without ``exact_count``, `actual` may hold entries that nothing expected pairs with.
    """
    if len(expected) > len(actual) or (exact_count and len(expected) != len(actual)):
        return [f"{what}: expected {len(expected)}, got {len(actual)}: {summarize(expected, actual)}"]
    owner: dict[int, int] = {}  # actual index -> expected index

    def assign(e: int, seen: set[int]) -> bool:
        for a, candidate in enumerate(actual):
            if a not in seen and matches(expected[e], candidate):
                seen.add(a)
                if a not in owner or assign(owner[a], seen):
                    owner[a] = e
                    return True
        return False

    unmatched = [e for e in range(len(expected)) if not assign(e, set())]
    return [f"{what}: no match for {strip_notes(expected[e])}: {summarize(expected, actual)}" for e in unmatched]


def strip_notes(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in NOTE_FIELDS}


def summarize(expected: list[dict[str, Any]], actual: list[dict[str, Any]]) -> str:
    fields = sorted({f for e in expected for f in e if f not in NOTE_FIELDS})
    return "actual " + json.dumps([{f: a.get(f) for f in fields} for a in actual], default=str)


def check_expectations(
    scenario: Scenario, takebacks: list[dict], net_cash: dict[str, dict], dead_letters: list[dict]
) -> list[str]:
    """Every disagreement between the expectations of `scenario` and one run's outputs (JSON-shaped dicts)."""
    expected = scenario.expected
    problems = fields_the_model_lacks(expected)
    problems += match_multiset("takebacks", expected.get("takebacks", []), takebacks)
    for provider_id, fields in expected.get("net_cash", {}).items():
        row = net_cash.get(provider_id)
        if row is None:
            problems.append(f"net_cash: no row for provider {provider_id}")
            continue
        for field, value in fields.items():
            if field not in NOTE_FIELDS and not same_value(field, value, row.get(field)):
                problems.append(f"net_cash[{provider_id}].{field}: expected {value}, got {row.get(field)}")
    problems += match_multiset("dead_letters", expected.get("dead_letters", []), dead_letters)
    for key, flags in expected.get("flags", {}).items():
        carriers = [t for t in takebacks if key in (t.get("claim_id"), t.get("plb_reason_code"))]
        if not carriers:
            problems.append(f"flags: no takeback for {key}")
        for takeback in carriers:
            missing = [f for f in flags if f not in takeback.get("flags", [])]
            if missing:
                problems.append(f"flags[{key}]: missing {missing}, has {takeback.get('flags')}")
    for provider_id, row in net_cash.items():
        problems += invariant_problems(provider_id, row)
    return problems


def fields_the_model_lacks(expected: dict[str, Any]) -> list[str]:
    """A clear failure, not a crash or a silent mismatch, for fields expected.json checks before the model has them."""
    wanted = [("Takeback", Takeback, f) for t in expected.get("takebacks", []) for f in t]
    for fields in expected.get("net_cash", {}).values():
        wanted += [("NetCashRow", NetCashRow, f) for f in fields]
        wanted += [("PayerCash", PayerCash, f) for p in fields.get("by_payer", {}).values() for f in p]
    missing = sorted({(name, f) for name, model, f in wanted if f not in NOTE_FIELDS and f not in model.model_fields})
    return [f"the model has no field {name}.{f} (expected.json checks it)" for name, f in missing]


def invariant_problems(provider_id: str, row: dict) -> list[str]:
    """Every row of a provider's cash, the provider's and each payer's, must satisfy the §8 invariant."""
    rows = [(provider_id, row)] + [(f"{provider_id}/{p.get('payer_id')}", p) for p in row.get("by_payer") or []]
    return [
        f"§8 invariant broken for {name}: {json.dumps(r, default=str)}" for name, r in rows if not invariant_holds(r)
    ]


def offline_outputs(result: OfflineResult) -> tuple[list[dict], dict[str, dict], list[dict]]:
    takebacks = [t.model_dump(mode="json") for t in result.live_takebacks()]
    net_cash = {p: row.model_dump(mode="json") for p, row in result.net_cash.items()}
    return takebacks, net_cash, [d.model_dump(mode="json") for d in result.dead_letters]


# --------------------------------------------------------------------------- 1. each scenario, offline


@pytest.mark.parametrize("scenario", params(ALL_SCENARIOS))
def test_scenario(scenario: Scenario) -> None:
    problems = check_expectations(scenario, *offline_outputs(process_files(scenario.files)))
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- 2. every arrival order


def orders(files: tuple[Path, ...]) -> list[tuple[Path, ...]]:
    if len(files) <= 4:
        return list(itertools.permutations(files))
    rng = random.Random(PERMUTATION_SEED)
    return [tuple(rng.sample(files, len(files))) for _ in range(MAX_PERMUTATIONS)]


def outcome_of(files: Iterable[Path]) -> tuple[dict[str, dict], dict[str, dict]]:
    remittances, _ = read_files(files)
    result = apply_all(remittances)
    takebacks = {t.event_id: t.model_dump(mode="json", exclude={"revision"}) for t in result.live_takebacks()}
    cash = {p: row.model_dump(mode="json", exclude={"revision"}) for p, row in result.net_cash.items()}
    return takebacks, cash


@pytest.mark.parametrize("scenario", params((s for s in ALL_SCENARIOS if len(s.files) > 1), gap_key="known_gap_order"))
def test_order_independence(scenario: Scenario) -> None:
    baseline_takebacks, baseline_cash = outcome_of(scenario.files)
    for order in orders(scenario.files):
        takebacks, cash = outcome_of(order)
        names = [p.name for p in order]
        assert takebacks == baseline_takebacks, f"takebacks differ for order {names}"
        assert cash == baseline_cash, f"net cash differs for order {names}"
        broken = [p for provider_id, row in cash.items() for p in invariant_problems(provider_id, row)]
        assert not broken, f"order {names}: " + "\n".join(broken)


# --------------------------------------------------------------------------- 3. all of them through the broker


@pytest.mark.broker
def test_scenarios_through_the_broker(tmp_path: Path, broker: EmbeddedBroker) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for scenario in ALL_SCENARIOS:
        for file in scenario.files:
            shutil.copy(file, inputs / f"{scenario.name}__{file.name}")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "streams.cli", "replay", str(inputs), "--out", str(out), "--broker"]
    run = subprocess.run([*command, broker.bootstrap], capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT)
    assert run.returncode == 0, run.stderr

    takebacks = [json.loads(line) for line in (out / "takebacks.jsonl").read_text().splitlines()]
    net_cash = {row["provider_id"]: row for row in json.loads((out / "net_cash.json").read_text())}
    dead_letters = [json.loads(line) for line in (out / "dead_letters.jsonl").read_text().splitlines()]
    failing: dict[str, list[str]] = {}
    claimed = {payee for scenario in ALL_SCENARIOS for payee in scenario.payees}
    unclaimed = sorted(set(net_cash) - claimed)
    assert not unclaimed, f"cash rows of no scenario's payee: {unclaimed}"
    for scenario in ALL_SCENARIOS:
        problems = check_expectations(
            scenario,
            [t for t in takebacks if t["payee_provider_id"] in scenario.payees],
            {p: row for p, row in net_cash.items() if p in scenario.payees},
            [d for d in dead_letters if (d["source"].get("file") or "").startswith(f"{scenario.name}__")],
        )
        if problems:
            failing[scenario.name] = problems
    known = {s.name for s in ALL_SCENARIOS if s.expected.get("known_gap")}
    unexpected = {name: problems for name, problems in failing.items() if name not in known}
    fixed = known - set(failing)
    assert not unexpected, "\n".join(f"{name}: {p}" for name, problems in unexpected.items() for p in problems)
    assert not fixed, f"known gaps that now pass through the broker (drop their known_gap): {sorted(fixed)}"
