"""CSV and XLSX of the pages' tables.

CSV: UTF-8 with a byte-order mark (Excel reads UTF-8 only with it), money as plain decimals, dates as ISO dates,
and any text cell a spreadsheet would run as a formula (starting with = + - @, tab or CR) prefixed with a quote
(OWASP's CSV injection advice). Produced a chunk of rows at a time, for a streamed response.

XLSX: XlsxWriter in constant_memory mode (each row is flushed to a temporary file as it is written), money as
numbers with a currency format, dates as dates, a bold header row, frozen panes under it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

import xlsxwriter

from streams.pages.tables import Column

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 500
MONEY_FORMAT = '"$"#,##0.00;[Red]-"$"#,##0.00'
DATE_FORMAT = "yyyy-mm-dd"


def escape_cell(text: str) -> str:
    """A text cell made inert for spreadsheets: a leading quote before a formula start."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def money_text(value: Decimal) -> str:
    """Cents always shown (12.50, not 12.5); more places kept when the ERA had them."""
    exponent = value.as_tuple().exponent
    return format(value, ".2f") if isinstance(exponent, int) and exponent >= -2 else format(value, "f")


def csv_cell(column: Column, item: Any) -> str:
    value = column.read(item)
    if value is None:
        return ""
    if column.kind == "money":
        return money_text(value)  # a number: never escaped, so "-12.50" stays a number
    if column.kind == "date":
        return value.isoformat()
    if column.kind == "count":
        return str(value)
    return escape_cell(str(value))


def csv_chunks(columns: Sequence[Column], items: Iterable[Any]) -> Iterator[bytes]:
    """The CSV as UTF-8 byte chunks: BOM and header first, then ROWS_PER_CHUNK rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow([escape_cell(c.header) for c in columns])
    for count, item in enumerate(items, 1):
        writer.writerow([csv_cell(c, item) for c in columns])
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


@dataclass
class Sheet:
    """One table of a workbook: its name (Excel allows 31 characters), columns and rows."""

    name: str
    columns: Sequence[Column]
    items: Iterable[Any]
    title: str | None = None  # a line above the header (the statement's period)


def write_xlsx(target: str | IO[bytes], sheets: Sequence[Sheet]) -> None:
    """Write the sheets as one workbook to a path or a binary file."""
    workbook = xlsxwriter.Workbook(target, {"constant_memory": True, "in_memory": False})
    formats = {
        "money": workbook.add_format({"num_format": MONEY_FORMAT}),
        "date": workbook.add_format({"num_format": DATE_FORMAT}),
        "header": workbook.add_format({"bold": True, "bottom": 1}),
    }
    try:
        for sheet in sheets:
            _write_sheet(workbook.add_worksheet(sheet.name[:31]), sheet, formats)
    finally:
        workbook.close()


def _write_sheet(worksheet: Any, sheet: Sheet, formats: dict[str, Any]) -> None:
    top = 0
    if sheet.title:
        worksheet.write_string(0, 0, sheet.title)
        top = 1
    for position, column in enumerate(sheet.columns):
        worksheet.write_string(top, position, column.header, formats["header"])
        worksheet.set_column(position, position, 14 if column.kind != "text" else max(12, len(column.header) + 2))
    worksheet.freeze_panes(top + 1, 0)
    for row, item in enumerate(sheet.items, top + 1):
        for position, column in enumerate(sheet.columns):
            _write_cell(worksheet, row, position, column.kind, column.read(item), formats)


def _write_cell(worksheet: Any, row: int, position: int, kind: str, value: Any, formats: dict[str, Any]) -> None:
    if value is None:
        worksheet.write_blank(row, position, None)
    elif kind == "money":
        # xlsx stores every number as a binary double: cents survive the round trip for any realistic amount
        worksheet.write_number(row, position, float(value), formats["money"])
    elif kind == "date":
        worksheet.write_datetime(row, position, dt.datetime.combine(value, dt.time()), formats["date"])
    elif kind == "count":
        worksheet.write_number(row, position, value)
    else:
        # write_string, never write(): a text cell is never read as a formula
        worksheet.write_string(row, position, str(value))
