"""A provider's statement for a period: summary, takebacks, open balances, payments, deposits (rules §10).

The printable page and `takeback report` both build it here, and write it with the tables' columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from schemas import Reassociation, Takeback, TakebackKind
from streams.domain.bank.position import feed_connected
from streams.domain.deadlines.rule_tables import RuleBook, shipped_rule_book
from streams.domain.deadlines.today import ForecastLine, forecast_lines
from streams.pages import deposits, tables
from streams.pages.exports import BOM, Sheet, csv_chunks, write_xlsx
from streams.pages.names import Names
from streams.pages.queries import (
    ZERO,
    AgeLine,
    PaymentLine,
    ProviderData,
    as_of_date,
    in_period,
    kind_total,
    open_balances_by_age,
    payments,
    provider_takebacks,
    takebacks_in_period,
)


@dataclass
class SummaryLine:
    item: str
    amount: Decimal


SUMMARY = [tables.col("Item", "text", "item"), tables.col("Amount", "money", "amount")]


@dataclass
class Statement:
    provider_id: str
    start: dt.date | None
    end: dt.date | None
    prepared: dt.date
    as_of: dt.date
    summary: list[SummaryLine]
    takebacks: list[Takeback]
    ages: list[AgeLine]
    payments: list[PaymentLine]
    deposits: list[deposits.DepositLine]
    names: Names
    forecast: list[ForecastLine]  # rules §13: offsets expected after `prepared`


def deposit_summary(records: Sequence[Reassociation], provider_id: str) -> list[SummaryLine]:
    """To date, as the Deposits section shows them: ERAs against bank and what is open (none without records).
    `records`: every provider's (they say whether a bank feed is connected, rules §10)."""
    row = deposits.provider_position(records, provider_id, None)
    lines = deposits.payer_money(row)
    if not lines:
        return []
    total = lines[-1]
    return [
        SummaryLine("Money per ERAs to date (payments that expect a deposit)", total.era_amount),
        SummaryLine("Money per bank to date", total.deposit_amount),
        SummaryLine("Difference, bank − ERAs", total.difference),
        SummaryLine("ERA payments whose money has not arrived", total.missing_amount),
        SummaryLine("Deposits whose amount differs from the ERA (bank − ERA)", total.mismatch_amount),
        SummaryLine("Deposits paid twice", total.duplicate_amount),
    ]


def build_statement(
    data: ProviderData,
    start: dt.date | None,
    end: dt.date | None,
    reassociations: Sequence[Reassociation] = (),
    takeback_providers: Mapping[str, str] | None = None,
    today: dt.date | None = None,
    rules: RuleBook | None = None,
) -> Statement:
    """`reassociations`: every reassociation record known (the provider's are picked out), for the deposits;
    `today` (default: the local date) is when it is prepared, and the day the forecast counts from."""
    everything = list(data.takebacks.values())
    taken = sorted(
        takebacks_in_period(everything, start, end),
        key=lambda t: (t.takeback_date or dt.date.min, t.event_id),
        reverse=True,
    )
    paid = [p for p in payments(data.remittances, everything) if in_period(p.date, start, end)]
    as_of = as_of_date(data.row)
    ages = open_balances_by_age(everything, as_of)
    still_owed = ages[-1].total if ages else ZERO
    summary = [
        SummaryLine(
            f"Payments received ({len(paid)} {'check/EFT' if len(paid) == 1 else 'checks/EFTs'}, amount per ERA)",
            sum((p.amount for p in paid), ZERO),
        ),
        SummaryLine("Claim payments in those payments", sum((p.claim_payments for p in paid), ZERO)),
        SummaryLine(
            f"Reversed ({sum(t.kind == TakebackKind.reversal for t in taken)} takebacks)",
            kind_total(taken, TakebackKind.reversal),
        ),
        SummaryLine(
            f"Recouped ({sum(t.kind == TakebackKind.recoupment for t in taken)} takebacks)",
            kind_total(taken, TakebackKind.recoupment),
        ),
        SummaryLine(f"Open takebacks still owed as of {as_of.isoformat()}", still_owed),
    ]
    if data.row is not None:
        summary.append(SummaryLine("Net cash to date (all remittances)", data.row.net_cash))
        summary.append(SummaryLine("Forward balances still owed to date", data.row.forward_balance))
    mine = deposits.of_provider(reassociations, data.provider_id)
    summary += deposit_summary(reassociations, data.provider_id)  # every provider's: is a bank feed connected?
    lines = deposits.deposit_lines(mine, takeback_providers or {}, connected=feed_connected(reassociations))
    prepared = today or dt.date.today()
    expected = forecast_lines(
        provider_takebacks(everything, data.provider_id), prepared, rules or shipped_rule_book(), data.row
    )
    return Statement(
        provider_id=data.provider_id,
        start=start,
        end=end,
        prepared=prepared,
        as_of=as_of,
        summary=summary,
        takebacks=taken,
        ages=ages,
        payments=paid,
        deposits=[line for line in lines if in_period(line.date, start, end)],
        names=Names.of(data.remittances, everything),
        forecast=expected,
    )


def statement_sheets(statement: Statement, include_patient_data: bool) -> list[Sheet]:
    def named(columns: list[tables.Column]) -> list[tables.Column]:
        return tables.named(columns, statement.names, export=True)

    names, prepared = statement.names, statement.prepared
    period = (
        f"Provider {names.provider(statement.provider_id)}, "
        f"{statement.start.isoformat() if statement.start else 'the beginning'} to "
        f"{statement.end.isoformat() if statement.end else 'the latest remittance'}"
    )
    return [
        Sheet("Summary", SUMMARY, statement.summary, title=period),
        Sheet("Takebacks", named(tables.takeback_columns(include_patient_data)), statement.takebacks, title=period),
        Sheet("Open balances", named(tables.OPEN_BALANCES), statement.ages, title=f"As of {statement.as_of}"),
        Sheet("Payments", named(tables.PAYMENTS), statement.payments, title=period),
        Sheet("Deposits", named(tables.DEPOSITS), statement.deposits, title=period),
        Sheet("Forecast", named(tables.FORECAST), statement.forecast, title=f"Expected offsets from {prepared}"),
    ]


def statement_csv(sheets: list[Sheet]) -> Iterator[bytes]:
    """One CSV with each table under its title, a blank line between them (one BOM, at the start)."""
    yield BOM.encode()
    for position, sheet in enumerate(sheets):
        if position:
            yield b"\r\n"
        yield f"{sheet.name}: {sheet.title}\r\n".encode() if sheet.title else f"{sheet.name}\r\n".encode()
        for chunk in csv_chunks(sheet.columns, sheet.items):
            yield chunk.removeprefix(BOM.encode())


def write_statement(path: Path, statement: Statement, include_patient_data: bool) -> None:
    sheets = statement_sheets(statement, include_patient_data)
    if path.suffix.lower() == ".xlsx":
        write_xlsx(str(path), sheets)
    elif path.suffix.lower() == ".csv":
        with path.open("wb") as out:
            for chunk in statement_csv(sheets):
                out.write(chunk)
    else:
        raise ValueError(f"{path}: the statement is written as .xlsx or .csv")
