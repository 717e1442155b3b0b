"""Read healthcare claim payments (CCD+ entries) out of a NACHA ACH file into ``Deposit`` events.

A NACHA file is a sequence of 94-character records: file header 1, batch header 5, entry detail 6,
addenda 7, batch control 8, file control 9, and blocking records of 9s that fill the last block of ten.
A healthcare EFT is a CCD credit whose batch says ``HCCLAIMPMT`` and whose addenda 05 carries the ERA's
TRN segment (rules §10). Files come with CRLF, LF or no line breaks at all, and sometimes with short
records (trailing spaces trimmed by a mail system); all of these are read.

Amounts are signed as the provider's account moved: a credit is positive, a debit (the money of a debit ERA,
BPR03 D) negative. A return entry (addenda 99 with an R-code) is read as a deposit that names the entry it
returns (``returned_trace``): a returned credit is negative, and matching cancels the credit with it.

One bad record becomes a dead letter with its line; the rest of the file still flows. Entries that are
not claim payments (payroll, vendor payments, prenotes, notifications of change) are skipped and counted
in a notice.
``read_nacha`` never raises (except MemoryError).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from schemas import Deposit, SourceRef
from streams.domain.bank.result import (
    DEAD_LETTER,
    DEPOSIT,
    PADDING,
    SKIPPED,
    STRUCTURE,
    BankFileReader,
    BankReadResult,
    RecordRejected,
    canonical_amount,
)
from streams.domain.bank.trn import BadTrace, find_trace
from streams.domain.ids import stable_id

RECORD_LENGTH = 94
HEALTHCARE_DESCRIPTION = "HCCLAIMPMT"
CREDIT_CODES = frozenset({"22", "32", "42", "52"})  # checking, savings, general ledger, loan credits
DEBIT_CODES = frozenset({"27", "37", "47", "55"})  # the same accounts debited: a debit ERA's money (BPR03 D)
CREDIT_RETURN_CODES = frozenset({"21", "31", "41", "51"})  # a credit returned (or its notification of change)
DEBIT_RETURN_CODES = frozenset({"26", "36", "46", "56"})  # a debit returned
RETURN_CODES = CREDIT_RETURN_CODES | DEBIT_RETURN_CODES
MONEY_CODES = CREDIT_CODES | DEBIT_CODES
PRENOTE_CODES = frozenset({"23", "28", "33", "38", "43", "48", "53"})
PAYMENT_RELATED = "05"  # the addenda type that carries the TRN string
RETURN_ADDENDA = "99"  # a return's addenda: R-code, and the trace number of the entry returned
CHANGE_ADDENDA = "98"  # a notification of change (C-code): no money moves


@dataclass(frozen=True)
class Record:
    line: int  # 1-based record number, as a person counts lines (or 94-character records without line breaks)
    text: str  # exactly 94 characters

    def field(self, start: int, end: int) -> str:
        """Positions as NACHA numbers them: 1-based, both ends included."""
        return self.text[start - 1 : end]


@dataclass
class _Batch:
    header: Record
    description: str
    sec_code: str
    effective_date: dt.date | None
    settlement_date: dt.date | None
    entries: int = 0
    records: int = 0
    credit_cents: int = 0
    debit_cents: int = 0
    entry_hash: int = 0
    deposits: list[Deposit] = field(default_factory=list)


def read_nacha(data: bytes, *, file: str | None = None, source_id: str | None = None) -> BankReadResult:
    return _NachaReader(file, source_id).read_all(data)


def split_records(text: str) -> tuple[list[Record], list[str]]:
    """94-character records from the file's text, with notices about how they were laid out.

    Lines are records. A line that is a whole number of records (a file without line breaks, or with a
    break per block) is cut into records; then a record's number counts records, not lines."""
    notices: list[str] = []
    lines = text.splitlines()
    pieces: list[str] = []
    for line in lines:
        if len(line) > RECORD_LENGTH and len(line) % RECORD_LENGTH == 0:
            pieces += [line[i : i + RECORD_LENGTH] for i in range(0, len(line), RECORD_LENGTH)]
        else:
            pieces.append(line)
    if len(pieces) != len(lines):
        notices.append("records run together without line breaks; line numbers count 94-character records")
    records: list[Record] = []
    short = 0
    for number, piece in enumerate(pieces, 1):
        line = piece[:RECORD_LENGTH] if len(piece) > RECORD_LENGTH and not piece[RECORD_LENGTH:].strip() else piece
        if line.strip() and len(line) < RECORD_LENGTH:
            short += 1
            line = line.ljust(RECORD_LENGTH)
        records.append(Record(number, line))
    if short:
        notices.append(f"{short} records were shorter than 94 characters (trailing spaces trimmed); read padded")
    return records, notices


class _NachaReader(BankFileReader):
    def __init__(self, file: str | None, source_id: str | None) -> None:
        super().__init__(file, source_id)
        self.batch: _Batch | None = None
        self.file_created: dt.date | None = None
        self.skipped: Counter[str] = Counter()  # reason -> entries
        self.entry: tuple[Record, list[Record]] | None = None  # the open entry and its addenda

    # ---- file

    def read(self, data: bytes) -> None:
        text = data.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf")
        records, notices = split_records(text)
        self.result.notices.extend(notices)
        for record in records:
            if not record.text.strip():
                continue
            self.result.total_records += 1
            self._record(record)
        self._close_entry()
        if self.batch is not None:
            self.result.notices.append(f"the batch that starts on line {self.batch.header.line} has no control record")
            self._close_batch(None)
        self._finish()

    def _record(self, record: Record) -> None:
        kind = record.text[0]
        if kind == "7" and len(record.text) == RECORD_LENGTH:
            self._addenda(record)
            return
        self._close_entry()
        if len(record.text) != RECORD_LENGTH:
            self._reject(
                record,
                "bad_record_length",
                f"Line {record.line} has {len(record.text)} characters; NACHA records have 94.",
            )
        elif record.text == "9" * RECORD_LENGTH:
            self.result.records[PADDING] += 1
        elif kind == "1":
            self._file_header(record)
        elif kind == "5":
            self._batch_header(record)
        elif kind == "6":
            self.entry = (record, [])
        elif kind == "8":
            self._batch_control(record)
        elif kind == "9":
            self._file_control(record)
        else:
            self._reject(
                record,
                "unknown_record_type",
                f"Line {record.line} starts with {kind!r}; NACHA records start with 1, 5, 6, 7, 8 or 9.",
            )

    def _finish(self) -> None:
        result = self.result
        if self.skipped:
            reasons = "; ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
            result.notices.append(f"entries skipped, not healthcare claim payments: {reasons}")
        if result.total_records == 0:
            self.result.dead_letters.append(self._dead_letter("not_nacha", "The file is empty.", None, None, ""))

    # ---- headers and controls

    def _file_header(self, record: Record) -> None:
        self.result.records[STRUCTURE] += 1
        self.file_created = _yymmdd(record.field(24, 29))

    def _batch_header(self, record: Record) -> None:
        if self.batch is not None:
            self.result.notices.append(f"the batch that starts on line {self.batch.header.line} has no control record")
            self._close_batch(None)
        effective = _yymmdd(record.field(70, 75))
        self.batch = _Batch(
            header=record,
            description=record.field(54, 63).strip(),
            sec_code=record.field(51, 53),
            effective_date=effective,
            settlement_date=_julian(record.field(76, 78), effective or self.file_created),
        )
        self.result.records[STRUCTURE] += 1

    def _batch_control(self, record: Record) -> None:
        self.result.records[STRUCTURE] += 1
        if self.batch is None:
            self.result.notices.append(f"line {record.line}: a batch control record outside any batch")
            return
        self._close_batch(record)

    def _close_batch(self, control: Record | None) -> None:
        batch, self.batch = self.batch, None
        if batch is None or control is None:
            return
        expected = (
            _digits(control.field(5, 10)),
            _digits(control.field(11, 20)),
            _digits(control.field(21, 32)),
            _digits(control.field(33, 44)),
        )
        found = (batch.records, batch.entry_hash % 10**10, batch.debit_cents, batch.credit_cents)
        if expected != found:
            self.result.notices.append(
                f"the batch control on line {control.line} does not match its batch (entries and addenda, "
                f"entry hash, debits, credits: control says {expected}, the batch holds {found})"
            )
            for deposit in batch.deposits:
                deposit.flags.append("batch_totals_mismatch")

    def _file_control(self, record: Record) -> None:
        self.result.records[STRUCTURE] += 1
        if self.batch is not None:
            self.result.notices.append(f"the batch that starts on line {self.batch.header.line} has no control record")
            self._close_batch(None)

    # ---- entries

    def _addenda(self, record: Record) -> None:
        if self.entry is None:
            self._reject(record, "orphan_addenda", f"Line {record.line} is an addenda record with no entry before it.")
            return
        self.entry[1].append(record)

    def _close_entry(self) -> None:
        if self.entry is None:
            return
        entry, addenda = self.entry
        self.entry = None
        records = [entry, *addenda]
        batch = self.batch
        if batch is None:
            self._reject_all(records, "entry_outside_batch", f"The entry on line {entry.line} is not inside a batch.")
            return
        batch.records += len(records)
        code = entry.field(2, 3)
        cents = _digits(entry.field(30, 39))
        batch.entry_hash += _digits(entry.field(4, 11)) or 0
        if cents is not None and code[1:] in "1234":
            batch.credit_cents += cents
        elif cents is not None and code[1:] in "6789":
            batch.debit_cents += cents
        try:
            deposit = self._deposit(batch, entry, addenda, code, cents)
        except RecordRejected as rejected:
            self._reject_all(records, rejected.code, rejected.message)
            return
        if deposit is None:
            self.result.records[SKIPPED] += len(records)
            return
        batch.deposits.append(deposit)
        self.result.deposits.append(deposit)
        self.result.records[DEPOSIT] += len(records)

    def _deposit(
        self, batch: _Batch, entry: Record, addenda: list[Record], code: str, cents: int | None
    ) -> Deposit | None:
        """The deposit an entry makes, None for an entry that is not a claim payment; RecordRejected when bad."""
        text = "".join(a.field(4, 83) for a in addenda if a.field(2, 3) == PAYMENT_RELATED)
        try:
            trace = find_trace(text)
        except BadTrace as bad:
            raise RecordRejected("bad_trn", f"Line {entry.line}: {bad}") from None
        if batch.description != HEALTHCARE_DESCRIPTION and trace is None:
            self.skipped[f"{batch.sec_code} entries described {batch.description!r}"] += 1
            return None
        if code in PRENOTE_CODES:
            self.skipped["prenotes (zero-dollar test entries)"] += 1
            return None
        if any(a.field(2, 3) == CHANGE_ADDENDA for a in addenda):
            self.skipped["notifications of change (no money moved)"] += 1
            return None
        returned = _returned_entry(entry, addenda, code)
        if returned is None and code not in MONEY_CODES:
            self.skipped[f"entries of transaction code {code} (neither a credit, a debit nor a return)"] += 1
            return None
        if cents is None:
            raise RecordRejected("bad_amount", f"Line {entry.line}: the amount (positions 30-39) is not ten digits.")
        date = batch.settlement_date or batch.effective_date or self.file_created
        if date is None:
            raise RecordRejected(
                "bad_date",
                f"Line {entry.line}: its batch (line {batch.header.line}) has no valid effective entry date "
                "and the file no creation date, so the deposit cannot be dated.",
            )
        flags = [] if trace or returned else ["no_trn"]  # a return names its entry, not a TRN
        if entry.field(79, 79) == "1" and not addenda:
            flags.append("addenda_missing")  # the entry says an addenda follows; the file ends or moves on
        if batch.sec_code != "CCD":
            flags.append("not_ccd")
        amount = Decimal(cents).scaleb(-2)
        if code in DEBIT_CODES or code in CREDIT_RETURN_CODES:
            amount = -amount  # money out of the account: a debit, or a credit taken back
        bank_trace = entry.field(80, 94).strip()
        account = entry.field(13, 29).strip()
        return Deposit(
            deposit_id=stable_id(
                "nacha",
                bank_trace,
                trace.trace_number if trace else None,
                trace.payer_id if trace else None,
                canonical_amount(amount),
                batch.effective_date,
                batch.settlement_date,
            ),
            source=SourceRef(file=self.file, source_id=self.source_id, line=entry.line, segment_tag="6"),
            format="nacha",
            method="ACH",
            amount=amount,
            trace_number=trace.trace_number if trace else None,
            payer_id=trace.payer_id if trace else None,
            effective_date=batch.effective_date or self.file_created,
            settlement_date=batch.settlement_date,
            bank_reference=bank_trace or None,
            receiver_id=entry.field(40, 54).strip() or None,
            account_last4=account[-4:] or None,
            description=batch.description or None,
            flags=flags,
            return_reason=returned[0] if returned else None,
            returned_trace=returned[1] if returned else None,
        )

    # ---- dead letters

    def _reject(self, record: Record, code: str, message: str) -> None:
        self._reject_all([record], code, message)

    def _reject_all(self, records: list[Record], code: str, message: str) -> None:
        raw = "\n".join(r.text for r in records)
        first = records[0]
        self.result.dead_letters.append(self._dead_letter(code, message, first.line, first.text[0], raw))
        self.result.records[DEAD_LETTER] += len(records)


def _returned_entry(entry: Record, addenda: list[Record], code: str) -> tuple[str, str] | None:
    """(R-code, trace number of the returned entry) of a return entry; None for any other entry.

    RecordRejected when the entry is a return whose addenda 99 cannot say what it returns."""
    returns = [a for a in addenda if a.field(2, 3) == RETURN_ADDENDA]
    if code not in RETURN_CODES and not returns:
        return None
    if not returns:
        raise RecordRejected(
            "bad_return", f"Line {entry.line}: a return entry (code {code}) without its return addenda (type 99)."
        )
    addenda = returns[0]
    reason, original = addenda.field(4, 6).strip(), addenda.field(7, 21).strip()
    if not (len(reason) == 3 and reason[0] == "R" and reason[1:].isdigit()):
        raise RecordRejected("bad_return", f"Line {addenda.line}: the return reason {reason!r} is not an R-code.")
    if not (len(original) == 15 and original.isdigit()):
        raise RecordRejected(
            "bad_return", f"Line {addenda.line}: the returned entry's trace number (positions 7-21) is not 15 digits."
        )
    if code not in RETURN_CODES:
        raise RecordRejected(
            "bad_return", f"Line {entry.line}: a return addenda under transaction code {code}, which is not a return."
        )
    return reason, original


def _digits(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _yymmdd(text: str) -> dt.date | None:
    """NACHA dates are YYMMDD; the century is 20 (files of the 1900s are not read any more)."""
    if not (text.isascii() and text.isdigit()):
        return None
    try:
        return dt.date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        return None


def _julian(text: str, near: dt.date | None) -> dt.date | None:
    """The settlement date: a day of the year (001-366) the ACH operator puts in; the year is the one
    that puts it closest to `near` (the effective date), since settlement follows it within days."""
    day = _digits(text)
    if day is None or not 1 <= day <= 366 or near is None:
        return None
    candidates = []
    for year in (near.year - 1, near.year, near.year + 1):
        date = dt.date(year, 1, 1) + dt.timedelta(days=day - 1)
        if date.year == year:
            candidates.append(date)
    return min(candidates, key=lambda date: abs((date - near).days), default=None)
