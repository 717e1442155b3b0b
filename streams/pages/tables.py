"""The tables the pages show, as columns: a header, a kind (money, date, count, text) and how to read a cell.

One definition per table serves its CSV and its XLSX export and the statement command, so an export has the
columns and figures of the page it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from streams.pages.names import Names
from streams.pages.queries import AGE_BUCKETS, AgeLine

# "payer" and "provider" columns read an id; `named` turns them into what a person reads
Kind = Literal["money", "date", "count", "text", "payer", "provider"]


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind
    read: Callable[[Any], Any]


def _attr(name: str) -> Callable[[Any], Any]:
    return lambda item: getattr(item, name)


def col(header: str, kind: Kind, name: str) -> Column:
    return Column(header, kind, _attr(name))


def named(columns: Sequence[Column], names: Names, *, export: bool = False) -> list[Column]:
    """Payer and provider columns named the one way (streams/pages/names.py). On a page: one "NAME (ID)" column.
    In a download: the id column as it was (a spreadsheet sorts and matches on ids), and a name column per id
    column at the end, so every column of a download keeps its place."""
    out: list[Column] = []
    names_last: list[Column] = []
    for column in columns:
        if column.kind not in ("payer", "provider"):
            out.append(column)
            continue
        of = names.payer if column.kind == "payer" else names.provider
        name_of = names.payer_name if column.kind == "payer" else names.provider_name
        if export:
            out.append(Column(column.header, "text", column.read))
            names_last.append(Column(f"{column.header} name", "text", _then(column.read, name_of)))
        else:
            out.append(Column(column.header, "text", _then(column.read, of)))
    return out + names_last


def _then(read: Callable[[Any], Any], name: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda item: name(read(item))


PROVIDERS = [
    col("Provider", "provider", "provider_id"),
    col("Net cash", "money", "net_cash"),
    col("Claim payments", "money", "claim_payments"),
    col("Reversed", "money", "reversed"),
    col("Recouped", "money", "recouped"),
    col("Still owed", "money", "still_owed"),
    col("Oldest open item", "date", "oldest_open"),
    col("Needs review", "count", "needs_review"),
    col("Due this week", "count", "due_this_week"),
    col("Takebacks", "count", "takebacks"),
    col("Untouched", "count", "untouched"),
    col("Last remittance", "date", "last_remittance_date"),
]


def takeback_columns(include_patient_data: bool) -> list[Column]:
    columns = [
        col("Takeback date", "date", "takeback_date"),
        col("Status", "text", "status"),
        col("Kind", "text", "kind"),
        col("Method", "text", "method"),
        col("Amount", "money", "amount"),
        col("Remaining", "money", "remaining"),
        col("Payer", "payer", "payer_id"),
        col("Claim", "text", "claim_id"),
        col("Payer claim number", "text", "payer_claim_control_number"),
        col("Reason", "text", "reason_category"),
        Column("Codes", "text", lambda t: " ".join(t.reason_codes)),
        col("Original date", "date", "original_effective_date"),
        col("Original trace", "text", "original_trace_number"),
        col("Original paid", "money", "original_payment_amount"),
        col("Days to takeback", "count", "days_to_takeback"),
        col("Trace", "text", "trace_number"),
        col("Correction paid", "money", "correction_payment"),
        col("Net change", "money", "net_change"),
        Column("Flags", "text", lambda t: " ".join(t.flags)),
        # rules §11, §13: what the events say (days left depend on the day they are read: the pages, the API)
        col("Payer kind", "text", "payer_kind"),
        col("Act by", "date", "act_by"),
        col("Deadline", "text", "deadline_kind"),
        Column("Deadline source", "text", lambda t: t.deadline_source.citation if t.deadline_source else None),
        Column("Look-back", "text", lambda t: t.lookback.outcome if t.lookback else None),
        col("Taken twice (excess)", "money", "recovered_twice_excess"),
        col("Takeback id", "text", "event_id"),
    ]
    if include_patient_data:  # after the claim
        at = next(i for i, c in enumerate(columns) if c.header == "Claim") + 1
        columns[at:at] = [col("Patient", "text", "patient_name"), col("Member id", "text", "member_id")]
    return columns


# what fits a printed page; the statement's downloads keep every column
PRINTED_TAKEBACK_HEADERS = frozenset(
    {"Takeback date", "Status", "Kind", "Method", "Amount", "Remaining", "Payer", "Claim", "Patient", "Reason", "Codes"}
    | {"Original date", "Original paid", "Flags"}
)


def printed_takeback_columns(include_patient_data: bool) -> list[Column]:
    return [c for c in takeback_columns(include_patient_data) if c.header in PRINTED_TAKEBACK_HEADERS]


RECONCILIATION = [
    col("Payer", "payer", "payer_id"),
    col("Claim payments", "money", "claim_payments"),
    col("Reversed", "money", "reversed"),
    col("Recouped", "money", "recouped"),
    col("Forward balance", "money", "forward_balance"),
    col("Refunds", "money", "refunds"),
    col("Other", "money", "other_adjustments"),
    col("Not moved", "money", "not_moved"),
    col("Unexplained", "money", "unexplained"),
    col("Net cash", "money", "net_cash"),
]


def _bucket(position: int) -> Callable[[AgeLine], Any]:
    return lambda line: line.buckets[position]


OPEN_BALANCES = [
    col("Payer", "payer", "payer_id"),
    *[Column(f"{label} days", "money", _bucket(i)) for i, (label, _, _) in enumerate(AGE_BUCKETS)],
    col("Total open", "money", "total"),
]

PAYMENTS = [
    col("Date", "date", "date"),
    col("Effective date", "date", "effective_date"),
    col("Trace (check/EFT)", "text", "trace_number"),
    col("Payer", "payer", "payer_id"),
    col("Amount per ERA", "money", "amount"),
    col("Claims paid", "count", "claims_paid"),
    col("Claim payments", "money", "claim_payments"),
    col("Takebacks in it", "count", "takebacks"),
    col("Taken back", "money", "taken_back"),
    col("PLB lines", "count", "plb_lines"),
    col("PLB total", "money", "plb_total"),
    Column("Flags", "text", lambda p: " ".join(p.flags)),
]

# Rules §13: what each payer is expected to withhold (streams.domain.deadlines.today.ForecastLine)
FORECAST = [
    col("Payer", "payer", "payer_id"),
    col("Within 7 days", "money", "within_7_days"),
    col("Within 30 days", "money", "within_30_days"),
    col("Within 60 days", "money", "within_60_days"),
    col("No expected day", "money", "undated"),
    col("Net cash to date", "money", "net_cash"),
    col("Net cash after 7 days", "money", "net_cash_after_7_days"),
    col("Net cash after 30 days", "money", "net_cash_after_30_days"),
    col("Net cash after 60 days", "money", "net_cash_after_60_days"),
]

# the provider page's tables that download, by the name in their URL
PROVIDER_TABLES = (
    "takebacks",
    "forecast",
    "reconciliation",
    "open-balances",
    "payments",
    "deposits",
    "deposit-payers",
    "deposit-ages",
)

# --------------------------------------------------------------------------- deposits (rules §10)


def _record(name: str) -> Callable[[Any], Any]:
    return lambda line: getattr(line.record, name)


DEPOSIT_PAYERS = [
    col("Payer", "payer", "payer_id"),
    col("Money per ERAs", "money", "era_amount"),
    col("Money per bank", "money", "deposit_amount"),
    col("Difference", "money", "difference"),
    col("Missing", "money", "missing_amount"),
    col("No ERA", "money", "unposted_amount"),
    col("Amounts differ by", "money", "mismatch_amount"),
    col("Paid twice", "money", "duplicate_amount"),
    col("Open items", "count", "open_items"),
]

DEPOSIT_AGES = [
    col("Age", "text", "age"),
    col("Open items", "count", "items"),
    col("Amount", "money", "amount"),
]

DEPOSITS = [
    col("Date", "date", "date"),
    Column("Status", "text", _record("status")),
    Column("Payer", "payer", _record("payer_id")),
    Column("Trace (EFT/check)", "text", _record("trace_number")),
    Column("Method", "text", _record("payment_method")),
    Column("ERA paid", "money", _record("era_amount")),
    Column("Bank shows", "money", _record("deposit_amount")),
    Column("Difference", "money", _record("difference")),
    Column("ERA date", "date", _record("effective_date")),
    Column("Deposit date", "date", _record("deposit_date")),
    Column("Due", "date", _record("due_date")),
    col("What it means", "text", "sentence"),
    col("Explained by takebacks", "text", "explained_by_text"),
    Column("Flags", "text", lambda line: " ".join(line.record.flags)),
    Column("Remittance", "text", _record("remittance_id")),
    Column("Deposit id", "text", _record("deposit_id")),
]

# what fits a printed page; the statement's downloads keep every column
PRINTED_DEPOSIT_HEADERS = frozenset(
    {"Date", "Status", "Payer", "Trace (EFT/check)", "ERA paid", "Bank shows", "Difference", "What it means"}
)


def printed_deposit_columns() -> list[Column]:
    return [c for c in DEPOSITS if c.header in PRINTED_DEPOSIT_HEADERS]


NO_ERA_SUMMARY = [
    col("Deposits", "text", "status"),
    col("Count", "count", "count"),
    col("Total", "money", "total"),
    col("Oldest", "date", "oldest"),
]
