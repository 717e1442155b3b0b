"""The shipped rule tables (data/*.csv) and the operator's additions, loaded and checked.

Rules that come from law or payer manuals ship as data, each row with its citation, a link and the date it was
checked, so a person can check them and an operator can add to them without changing code. A row missing any of
those, or with a value that does not parse, stops the load with the file and line: a rule without a source is
never applied.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from importlib import resources
from pathlib import Path


class PayerKind(StrEnum):
    medicare = "medicare"
    medicaid = "medicaid"
    commercial = "commercial"
    other = "other"


class RuleTableError(ValueError):
    """A rule table row that cannot be applied (missing source, bad value): names the file and line."""


@dataclass(frozen=True)
class Source:
    citation: str
    url: str
    checked_on: dt.date


@dataclass(frozen=True)
class StateLimit:
    """How long after paying a commercial payer may recoup in one state (rules §11); `limit` None: no limit."""

    state: str
    limit: int | None
    unit: str  # "days", "months" or "none"
    notice_rule: str
    scope: str
    source: Source

    def describe(self) -> str:
        return "no limit" if self.limit is None else f"{self.limit} {self.unit}"


@dataclass(frozen=True)
class KindDeadline:
    """A clock every payer of one kind starts (Medicare's §935 days): day `day`, counting the notice as day 1."""

    kind: PayerKind
    deadline_kind: str
    day: int
    description: str
    source: Source


@dataclass(frozen=True)
class PayerProfile:
    """What the operator (or a shipped row) knows of one payer: its kind and its own clocks, in days."""

    payer_id: str
    name: str
    kind: PayerKind
    dispute_days: int | None
    offset_days: int | None
    appeal_days: int | None
    source: Source


@dataclass(frozen=True)
class ProviderEntry:
    """The operator's word on one provider (TAKEBACK_PROVIDERS): its state, where its 835s' N4 is missing or wrong."""

    provider_id: str
    state: str
    name: str = ""


@dataclass(frozen=True)
class InterestRate:
    effective_from: dt.date
    annual_percent: Decimal
    source: Source


@dataclass(frozen=True)
class RuleBook:
    """Every table, keyed for lookup."""

    state_limits: dict[str, StateLimit] = field(default_factory=dict)
    kind_deadlines: dict[PayerKind, tuple[KindDeadline, ...]] = field(default_factory=dict)
    filing_kinds: dict[str, PayerKind] = field(default_factory=dict)  # CLP06 code -> kind
    profiles: dict[str, PayerProfile] = field(default_factory=dict)  # payer id (TRN03 or REF*2U) -> profile
    interest_rates: tuple[InterestRate, ...] = ()  # oldest first
    providers: dict[str, ProviderEntry] = field(default_factory=dict)  # provider id -> the operator's entry
    # what callers derive from these tables, kept with them (the tables never change once loaded)
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)


def load_rule_book(
    payer_profiles: Path | None = None, state_limits: Path | None = None, providers: Path | None = None
) -> RuleBook:
    """The shipped tables, plus the operator's payer profiles, state limits and providers (their rows win on the
    same key)."""
    limits = {row.state: row for row in _state_limits(_shipped("state_lookback_limits.csv"))}
    if state_limits is not None:
        limits |= {row.state: row for row in _state_limits(_file(state_limits))}
    profiles = {row.payer_id: row for row in _profiles(_shipped("payer_profiles.csv"))}
    if payer_profiles is not None:
        profiles |= {row.payer_id: row for row in _profiles(_file(payer_profiles))}
    by_kind: dict[PayerKind, list[KindDeadline]] = {}
    for deadline in _kind_deadlines(_shipped("payer_kind_defaults.csv")):
        by_kind.setdefault(deadline.kind, []).append(deadline)
    return RuleBook(
        state_limits=limits,
        kind_deadlines={kind: tuple(sorted(rows, key=lambda d: d.day)) for kind, rows in by_kind.items()},
        filing_kinds=dict(_filing_kinds(_shipped("claim_filing_indicators.csv"))),
        profiles=profiles,
        interest_rates=tuple(sorted(_rates(_shipped("medicare_interest_rates.csv")), key=lambda r: r.effective_from)),
        providers={row.provider_id: row for row in _providers(_file(providers))} if providers is not None else {},
    )


Row = tuple[str, int, dict[str, str]]  # (file name, line number, columns)


@functools.cache
def shipped_rule_book() -> RuleBook:
    """The shipped tables alone, loaded once: what a ledger applies when the operator added nothing."""
    return load_rule_book()


def _shipped(name: str) -> Iterator[Row]:
    text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    return _rows(name, text)


def _file(path: Path) -> Iterator[Row]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleTableError(f"{path}: cannot read it ({exc})") from None
    return _rows(str(path), text)


def _rows(name: str, text: str) -> Iterator[Row]:
    reader = csv.DictReader(text.splitlines())
    for line, columns in enumerate(reader, start=2):
        yield name, line, {k: (v or "").strip() for k, v in columns.items() if k is not None}


def _source(row: Row, *, url_required: bool = True) -> Source:
    name, line, columns = row
    citation, url, checked = columns.get("citation", ""), columns.get("source_url", ""), columns.get("checked_on", "")
    if not citation or (url_required and not url) or not checked:
        raise RuleTableError(f"{name} line {line}: every rule needs citation, source_url and checked_on")
    return Source(citation, url, _date(row, checked))


def _state_limits(rows: Iterator[Row]) -> Iterator[StateLimit]:
    for row in rows:
        _, _, c = row
        unit = c["unit"]
        if unit not in {"days", "months", "none"}:
            raise _bad(row, "unit", unit)
        limit = None if unit == "none" else _int(row, "limit")
        yield StateLimit(c["state"].upper(), limit, unit, c.get("notice_rule", ""), c.get("scope", ""), _source(row))


def _kind_deadlines(rows: Iterator[Row]) -> Iterator[KindDeadline]:
    for row in rows:
        _, _, c = row
        yield KindDeadline(_kind(row), c["deadline_kind"], _int(row, "day"), c["description"], _source(row))


def _profiles(rows: Iterator[Row]) -> Iterator[PayerProfile]:
    for row in rows:
        _, _, c = row
        if not c.get("payer_id"):
            raise _bad(row, "payer_id", "")
        days = {key: _int(row, key) if c.get(key) else None for key in ("dispute_days", "offset_days", "appeal_days")}
        source = _source(row, url_required=False)  # an operator's row may cite its contract, which has no link
        yield PayerProfile(c["payer_id"], c.get("name", ""), _kind(row), **days, source=source)


def _providers(rows: Iterator[Row]) -> Iterator[ProviderEntry]:
    for row in rows:
        _, _, c = row
        state = c.get("state", "").upper()
        if not c.get("provider_id"):
            raise _bad(row, "provider_id", "")
        if len(state) != 2 or not state.isalpha():
            raise _bad(row, "state", c.get("state", ""))
        yield ProviderEntry(c["provider_id"], state, c.get("name", ""))


def _filing_kinds(rows: Iterator[Row]) -> Iterator[tuple[str, PayerKind]]:
    for row in rows:
        _, _, c = row
        if not c.get("source_url") or not c.get("checked_on"):
            raise RuleTableError(f"{row[0]} line {row[1]}: every code needs source_url and checked_on")
        yield c["code"], _kind(row)


def _rates(rows: Iterator[Row]) -> Iterator[InterestRate]:
    for row in rows:
        _, _, c = row
        try:
            percent = Decimal(c["annual_rate_percent"])
        except InvalidOperation:
            raise _bad(row, "annual_rate_percent", c["annual_rate_percent"]) from None
        yield InterestRate(_date(row, c["effective_from"]), percent, _source(row))


def _kind(row: Row) -> PayerKind:
    value = row[2].get("kind", "")
    try:
        return PayerKind(value)
    except ValueError:
        raise _bad(row, "kind", value) from None


def _int(row: Row, column: str) -> int:
    value = row[2].get(column, "")
    if not value.isdigit():
        raise _bad(row, column, value)
    return int(value)


def _date(row: Row, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _bad(row, "date", value) from None


def _bad(row: Row, column: str, value: str) -> RuleTableError:
    return RuleTableError(f"{row[0]} line {row[1]}: {column} {value!r} is not valid")
