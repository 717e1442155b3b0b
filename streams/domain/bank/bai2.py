"""Read healthcare claim payments out of a BAI2 bank statement into ``Deposit`` events.

BAI2 records are comma-separated and end with ``/``: 01 file header, 02 group header (with the as-of
date), 03 account, 16 transaction detail, 88 continuation, 49 account trailer, 98 group trailer,
99 file trailer. A detail's last field is free text that runs to the end of its record and on through
its 88 continuations; banks put the ACH addenda there, so the ERA's TRN string is found in it
(rules §10). A continuation joins its record without a separator when the record did not end with
``/`` (the text goes on mid-word: a TRN may be cut anywhere), and as a new field when it did.

Deposits are credit details (type codes 100-399) whose text carries a TRN, debit details (400-699) with a
TRN (negative: a debit ERA's money), ACH credits described
HCCLAIMPMT without one, and check deposits (lockbox and commercial deposits) whose customer reference
is the check number. Other details are skipped and counted in a notice. ``read_bai2`` never raises
(except MemoryError); one bad record becomes a dead letter with its line and the rest flows.
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
    SKIPPED,
    STRUCTURE,
    BankFileReader,
    BankReadResult,
    RecordRejected,
    canonical_amount,
)
from streams.domain.bank.trn import BadTrace, find_trace
from streams.domain.ids import stable_id

CREDIT_TYPES = range(100, 400)
DEBIT_TYPES = range(400, 700)
ACH_CREDIT_TYPES = frozenset({142, 143, 165, 166, 169, 174, 195, 196, 208})
CHECK_DEPOSIT_TYPES = frozenset({115, 116, 175, 301})  # lockbox deposit and item, check deposit package, commercial
HEALTHCARE_DESCRIPTION = "HCCLAIMPMT"
RAW_RECORDS = 20  # records of an account kept for the dead letter of a file that ends inside it
# Extra fields after the funds type, by funds type: V (value date, time), S (three availabilities).
FUNDS_TYPE_FIELDS = {"V": 2, "S": 3}


@dataclass
class _Logical:
    """One record with its continuations."""

    code: str
    data: str
    lines: list[int]
    raw: list[str]


@dataclass
class _Account:
    line: int
    last4: str | None
    amounts: int = 0  # cents of the 03 summaries and 16 details, for the 49 control total
    records: int = 1
    deposits: list[Deposit] = field(default_factory=list)
    deposit_records: int = 0  # records (details and continuations) of its deposits
    raw: list[str] = field(default_factory=list)  # its first records, for a dead letter if the file ends inside it


def read_bai2(data: bytes, *, file: str | None = None, source_id: str | None = None) -> BankReadResult:
    return _Bai2Reader(file, source_id).read_all(data)


def logical_records(text: str) -> tuple[list[_Logical], list[tuple[int, str]]]:
    """Records with their 88 continuations joined, and the lines that are not records at all."""
    records: list[_Logical] = []
    strays: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        code, comma, data = line.partition(",")
        if not (comma and len(code) == 2 and code.isdigit()):
            strays.append((number, line))
            continue
        if code == "88" and records:
            previous = records[-1]
            previous.data = previous.data[:-1] + "," + data if previous.data.endswith("/") else previous.data + data
            previous.lines.append(number)
            previous.raw.append(line)
        else:
            records.append(_Logical(code, data, [number], [line]))
    return records, strays


class _Bai2Reader(BankFileReader):
    def __init__(self, file: str | None, source_id: str | None) -> None:
        super().__init__(file, source_id)
        self.as_of: dt.date | None = None
        self.group_line: int | None = None
        self.account: _Account | None = None
        self.skipped: Counter[str] = Counter()

    def read(self, data: bytes) -> None:
        text = data.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf")
        records, strays = logical_records(text)
        self.result.total_records = len(strays) + sum(len(r.lines) for r in records)
        for number, line in strays:
            self._reject_lines([number], [line], "malformed_record", f"Line {number} is not a BAI2 record.")
        for record in records:
            self._record(record)
        if records and records[-1].code != "99":
            self._truncated(records[-1])
        if self.skipped:
            reasons = "; ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
            self.result.notices.append(f"details skipped, not healthcare claim payments: {reasons}")
        if self.result.total_records == 0:
            self.result.dead_letters.append(self._dead_letter("not_bai2", "The file is empty.", None, None, ""))

    # ---- records

    def _record(self, record: _Logical) -> None:
        handler = {
            "01": self._structure,
            "02": self._group_header,
            "03": self._account_header,
            "16": self._detail,
            "49": self._account_trailer,
            "98": self._group_trailer,
            "99": self._structure,
            "88": self._orphan_continuation,
        }.get(record.code)
        if handler is None:
            message = f"Line {record.lines[0]} has record type {record.code}, which BAI2 does not define."
            self._reject(record, "unknown_record_type", message)
            return
        handler(record)

    def _structure(self, record: _Logical) -> None:
        self.result.records[STRUCTURE] += len(record.lines)

    def _orphan_continuation(self, record: _Logical) -> None:
        self._reject(record, "orphan_continuation", f"Line {record.lines[0]} continues no record (88 first).")

    def _group_header(self, record: _Logical) -> None:
        self._structure(record)
        fields = _fields(record.data)
        self.group_line = record.lines[0]
        self.as_of = _yymmdd(fields[3]) if len(fields) > 3 else None
        if self.as_of is None:
            self.result.notices.append(f"the group header on line {record.lines[0]} has no valid as-of date")

    def _group_trailer(self, record: _Logical) -> None:
        self._structure(record)
        self.as_of = None
        self.group_line = None

    def _account_header(self, record: _Logical) -> None:
        self._structure(record)
        fields = _fields(record.data)
        number = fields[0].strip() if fields else ""
        self.account = _Account(record.lines[0], number[-4:] or None, records=len(record.lines), raw=list(record.raw))
        for index in range(3, len(fields), 4):  # summaries: type code, amount, item count, funds type
            self.account.amounts += _cents(fields[index]) or 0

    def _account_trailer(self, record: _Logical) -> None:
        self._structure(record)
        account, self.account = self.account, None
        fields = _fields(record.data)
        if account is None:
            self.result.notices.append(f"line {record.lines[0]}: an account trailer with no account")
            return
        account.records += len(record.lines)
        expected = (_cents(fields[0]) if fields else None, _cents(fields[1]) if len(fields) > 1 else None)
        if expected != (account.amounts, account.records):
            self.result.notices.append(
                f"the account trailer on line {record.lines[0]} does not match its account (control total and "
                f"records: trailer says {expected}, the account holds {(account.amounts, account.records)})"
            )
            for deposit in account.deposits:
                deposit.flags.append("account_totals_mismatch")

    # ---- details

    def _detail(self, record: _Logical) -> None:
        account = self.account
        if account is None:
            self._reject(record, "detail_outside_account", f"The detail on line {record.lines[0]} has no account.")
            return
        account.records += len(record.lines)
        try:
            deposit = self._deposit(record, account)
        except RecordRejected as rejected:
            self._reject(record, rejected.code, rejected.message)
            return
        if deposit is None:
            self.result.records[SKIPPED] += len(record.lines)
            return
        account.deposits.append(deposit)
        account.deposit_records += len(record.lines)
        if len(account.raw) < RAW_RECORDS:
            account.raw += record.raw
        self.result.deposits.append(deposit)
        self.result.records[DEPOSIT] += len(record.lines)

    # ---- the end of the file

    def _truncated(self, last: _Logical) -> None:
        """A file that does not end with its 99 trailer was cut short (in transit, or while still being written).

        The deposits of an account with no 49 trailer are not applied: its last detail may be cut mid-amount and
        nothing checks its total. Accounts closed by their trailer were checked against it and are applied."""
        account, self.account = self.account, None
        if account is None:
            message = (
                f"The bank file ends on line {last.lines[-1]} without its file trailer (99): it was cut short; ask "
                "the bank for it again. The deposits of accounts closed by their trailer (49) were applied."
            )
            self.result.dead_letters.append(
                self._dead_letter("truncated", message, last.lines[0], last.code, "\n".join(last.raw))
            )
            return
        message = (
            f"The bank file ends inside the account that starts on line {account.line} (no account trailer 49, no "
            f"file trailer 99): it was cut short; ask the bank for it again. Its {len(account.deposits)} deposits "
            "were not applied."
        )
        self.result.dead_letters.append(
            self._dead_letter("truncated", message, account.line, "03", "\n".join(account.raw))
        )
        dropped = {id(deposit) for deposit in account.deposits}
        self.result.deposits = [d for d in self.result.deposits if id(d) not in dropped]
        self.result.records[DEPOSIT] -= account.deposit_records
        self.result.records[DEAD_LETTER] += account.deposit_records

    def _deposit(self, record: _Logical, account: _Account) -> Deposit | None:
        line = record.lines[0]
        fields = record.data.split(",")  # the text (after the references) keeps its commas: re-joined below
        if len(fields) < 3:
            raise RecordRejected(
                "malformed_record", f"Line {line}: a detail needs a type code, an amount and a funds type."
            )
        type_code = _cents(fields[0])
        cents = _cents(fields[1])
        if type_code is None:
            raise RecordRejected(
                "malformed_record", f"Line {line}: the detail's type code {fields[0]!r} is not a number."
            )
        if cents is None or cents < 0 or not fields[1].strip():
            raise RecordRejected(
                "bad_amount", f"Line {line}: the detail's amount {fields[1]!r} is not a whole number of cents."
            )
        account.amounts += cents
        rest, value_date = self._after_funds_type(fields[2].strip().upper(), fields[3:], line)
        bank_reference = rest[0] if rest else ""
        customer_reference = rest[1].removesuffix("/") if len(rest) > 1 else ""
        text = ",".join(rest[2:]).removesuffix("/")
        debit = type_code in DEBIT_TYPES
        if not debit and type_code not in CREDIT_TYPES:
            self.skipped["other details"] += 1
            return None
        try:
            trace = find_trace(text)
        except BadTrace as bad:
            raise RecordRejected("bad_trn", f"Line {line}: {bad}") from None
        if debit and trace is None:
            self.skipped["debits"] += 1  # only a debit with a TRN is a payer's (a debit ERA's money)
            return None
        check_number = customer_reference.strip() if type_code in CHECK_DEPOSIT_TYPES else ""
        # signed as the account moved: a debit with a TRN is the money of a debit ERA (BPR03 D)
        healthcare = HEALTHCARE_DESCRIPTION in text.upper() and type_code in ACH_CREDIT_TYPES
        if trace is None and not check_number and not healthcare:
            reason = "check deposits without a check number" if type_code in CHECK_DEPOSIT_TYPES else "other credits"
            self.skipped[reason] += 1
            return None
        date = value_date or self.as_of
        if date is None:
            raise RecordRejected(
                "bad_date", f"Line {line}: its group (line {self.group_line}) has no valid as-of date to date it by."
            )
        amount = Decimal(cents).scaleb(-2) * (-1 if debit else 1)
        method = "CHK" if trace is None and check_number else "ACH"
        bank_reference = bank_reference.strip()
        return Deposit(
            deposit_id=stable_id(
                "bai2",
                account.last4,
                date,
                type_code,
                bank_reference,
                trace.trace_number if trace else None,
                trace.payer_id if trace else None,
                check_number if method == "CHK" else None,
                canonical_amount(amount),
            ),
            source=SourceRef(file=self.file, source_id=self.source_id, line=line, segment_tag="16"),
            format="bai2",
            method=method,
            amount=amount,
            trace_number=trace.trace_number if trace else None,
            payer_id=trace.payer_id if trace else None,
            check_number=check_number if method == "CHK" else None,
            effective_date=None,
            settlement_date=date,
            bank_reference=bank_reference or None,
            account_last4=account.last4,
            description=f"BAI2 type {type_code}",
            flags=[] if trace or method == "CHK" else ["no_trn"],
        )

    def _after_funds_type(self, funds_type: str, rest: list[str], line: int) -> tuple[list[str], dt.date | None]:
        """The fields after the funds type's availability fields, and the value date of funds type V."""
        if funds_type == "D":
            count = _cents(rest[0]) if rest else None
            if count is None or len(rest) < 1 + 2 * count:
                raise RecordRejected("malformed_record", f"Line {line}: funds type D without its distribution count.")
            return rest[1 + 2 * count :], None
        extra = FUNDS_TYPE_FIELDS.get(funds_type, 0)
        if len(rest) < extra:
            raise RecordRejected("malformed_record", f"Line {line}: funds type {funds_type} without its availability.")
        value_date = _yymmdd(rest[0]) if funds_type == "V" else None
        return rest[extra:], value_date

    # ---- dead letters

    def _reject(self, record: _Logical, code: str, message: str) -> None:
        self._reject_lines(record.lines, record.raw, code, message, record.code)

    def _reject_lines(
        self, lines: list[int], raw: list[str], code: str, message: str, record_type: str | None = None
    ) -> None:
        self.result.dead_letters.append(self._dead_letter(code, message, lines[0], record_type, "\n".join(raw)))
        self.result.records[DEAD_LETTER] += len(lines)


def _fields(data: str) -> list[str]:
    return data.removesuffix("/").split(",")


def _cents(text: str) -> int | None:
    text = text.strip().removesuffix("/")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if not text:
        return 0
    return sign * int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _yymmdd(text: str) -> dt.date | None:
    text = text.strip().removesuffix("/")
    if len(text) != 6 or not (text.isascii() and text.isdigit()):
        return None
    try:
        return dt.date(2000 + int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        return None
