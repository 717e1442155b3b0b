"""Realistic bank deposit files built from a list of payments: NACHA CCD+ and BAI2.

``nacha_file`` writes what a provider's bank receives for healthcare EFTs: one CCD batch per payer and
effective date, company entry description HCCLAIMPMT, one addenda 05 per entry carrying the ERA's
``TRN*1*<TRN02>*<TRN03>\\``, batch and file controls with correct counts, entry hash and totals, and
blocking to a multiple of ten records with 9s. ``bai2_file`` writes the bank statement a practice
downloads: one 16 detail per payment with the TRN in its text (split over an 88 continuation when
asked), and account, group and file trailers with correct totals and record counts.

Amounts are Decimal dollars, written in cents; the same inputs always give the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import groupby

RECEIVING_DFI = "02100002"  # a routing number's first 8 digits (the 9th is the check digit)
ODFI = "01100001"
ACCOUNT = "123456789"


@dataclass(frozen=True)
class BankPayment:
    trace_number: str  # TRN02
    payer_id: str  # TRN03 (1 + EIN)
    amount: Decimal
    effective_date: dt.date  # pairs with BPR16
    settlement_date: dt.date | None = None
    receiver_id: str = "910000001"  # the provider's TIN, as payers put it in the entry
    receiver_name: str = "SCENARIO CLINIC"
    check_number: str | None = None  # BAI2 only: a check deposit instead of an ACH credit
    description: str = "HCCLAIMPMT"
    transaction_code: str = "22"  # NACHA: 22 checking credit, 27 checking debit, 21 / 26 their returns
    return_reason: str | None = None  # NACHA return (addenda 99): the R-code
    returned_trace: str | None = None  # NACHA return: the trace number of the entry it returns

    @property
    def is_debit(self) -> bool:
        """NACHA totals count codes ending 6-9 as debits, 1-4 (returns of credits too) as credits."""
        return self.transaction_code[1] in "6789"


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def _field(value: object, width: int, *, numeric: bool = False) -> str:
    text = str(value)
    return text.rjust(width, "0")[-width:] if numeric else text.ljust(width)[:width]


def nacha_file(
    payments: Sequence[BankPayment],
    *,
    created: dt.date = dt.date(2026, 1, 2),
    line_ending: str = "\n",
    blocking: bool = True,
    with_addenda: bool = True,
    first_trace: int = 1,
) -> bytes:
    """Entries of code 2x; a payment with `return_reason` is a return entry with its addenda 99."""
    records = [
        "1"
        + "01"
        + _field(" " + RECEIVING_DFI + "4", 10)
        + _field(" " + ODFI + "5", 10)
        + created.strftime("%y%m%d")
        + "1200"
        + "A"
        + "094"
        + "10"
        + "1"
        + _field("RECEIVING BANK", 23)
        + _field("PAYER BANK", 23)
        + _field("", 8)
    ]
    batches = 0
    entries_and_addenda = 0
    file_hash = 0
    file_credit = file_debit = 0
    trace_sequence = first_trace - 1
    ordered = sorted(payments, key=lambda p: (p.payer_id, p.effective_date, p.description))
    for (payer_id, effective, description), group in groupby(
        ordered, key=lambda p: (p.payer_id, p.effective_date, p.description)
    ):
        batches += 1
        group = list(group)
        settlement = group[0].settlement_date
        julian = f"{settlement.timetuple().tm_yday:03d}" if settlement else "   "
        records.append(
            "5"
            + "220"
            + _field("HEALTH PLAN", 16)
            + _field("", 20)
            + _field(payer_id, 10)
            + "CCD"
            + _field(description, 10)
            + _field("", 6)
            + effective.strftime("%y%m%d")
            + julian
            + "1"
            + ODFI
            + _field(batches, 7, numeric=True)
        )
        batch_count = batch_hash = batch_credit = batch_debit = 0
        for payment in group:
            trace_sequence += 1
            amount = cents(payment.amount)
            records.append(
                "6"
                + payment.transaction_code
                + RECEIVING_DFI
                + "4"
                + _field(ACCOUNT, 17)
                + _field(amount, 10, numeric=True)
                + _field(payment.receiver_id, 15)
                + _field(payment.receiver_name, 22)
                + "  "
                + ("1" if with_addenda else "0")
                + ODFI
                + _field(trace_sequence, 7, numeric=True)
            )
            batch_count += 1
            if payment.return_reason:
                records.append(
                    "7"
                    + "99"
                    + _field(payment.return_reason, 3)
                    + _field(payment.returned_trace or "", 15)
                    + _field("", 6)
                    + RECEIVING_DFI
                    + _field("", 44)
                    + ODFI
                    + _field(trace_sequence, 7, numeric=True)
                )
                batch_count += 1
            elif with_addenda:
                trn = f"TRN*1*{payment.trace_number}*{payment.payer_id}\\"
                records.append("7" + "05" + _field(trn, 80) + "0001" + _field(trace_sequence, 7, numeric=True))
                batch_count += 1
            batch_hash += int(RECEIVING_DFI)
            if payment.is_debit:
                batch_debit += amount
            else:
                batch_credit += amount
        records.append(
            "8"
            + "220"
            + _field(batch_count, 6, numeric=True)
            + _field(batch_hash % 10**10, 10, numeric=True)
            + _field(batch_debit, 12, numeric=True)
            + _field(batch_credit, 12, numeric=True)
            + _field(payer_id, 10)
            + _field("", 19)
            + _field("", 6)
            + ODFI
            + _field(batches, 7, numeric=True)
        )
        entries_and_addenda += batch_count
        file_hash += batch_hash
        file_credit += batch_credit
        file_debit += batch_debit
    blocks = -(-(len(records) + 1) // 10)
    records.append(
        "9"
        + _field(batches, 6, numeric=True)
        + _field(blocks, 6, numeric=True)
        + _field(entries_and_addenda, 8, numeric=True)
        + _field(file_hash % 10**10, 10, numeric=True)
        + _field(file_debit, 12, numeric=True)
        + _field(file_credit, 12, numeric=True)
        + _field("", 39)
    )
    if blocking:
        records += ["9" * 94] * (blocks * 10 - len(records))
    assert all(len(record) == 94 for record in records)
    return line_ending.join(records).encode("ascii") + line_ending.encode("ascii")


def bai2_file(
    payments: Sequence[BankPayment],
    *,
    created: dt.date = dt.date(2026, 1, 2),
    split_text: bool = False,
    line_ending: str = "\n",
) -> bytes:
    """One group per as-of date (the settlement date, else the effective date), one account."""
    records = [f"01,BANKID,PRACTICE,{created:%y%m%d},0600,1,,,2/"]
    file_total = 0
    group_count = 0

    def as_of(payment: BankPayment) -> dt.date:
        return payment.settlement_date or payment.effective_date

    for day, group in groupby(sorted(payments, key=as_of), key=as_of):
        group_count += 1
        group_records = [f"02,PRACTICE,BANKID,1,{day:%y%m%d},0600,USD,2/"]
        account_records = [f"03,{ACCOUNT},USD,010,0,,/"]
        account_total = 0
        for number, payment in enumerate(group, 1):
            amount = cents(payment.amount)
            account_total += amount
            if payment.check_number:
                account_records.append(f"16,301,{amount},0,BR{number:06d},{payment.check_number},CHECK DEPOSIT")
                continue
            text = f"HCCLAIMPMT {payment.receiver_name} TRN*1*{payment.trace_number}*{payment.payer_id}\\"
            if split_text:
                cut = len(text) - 8  # inside TRN03: a reader must join the continuation without a space
                account_records += [f"16,165,{amount},0,BR{number:06d},,{text[:cut]}", f"88,{text[cut:]}"]
            else:
                account_records.append(f"16,165,{amount},0,BR{number:06d},,{text}")
        account_records.append(f"49,{account_total},{len(account_records) + 1}/")
        group_records += account_records
        group_records.append(f"98,{account_total},1,{len(group_records) + 1}/")
        records += group_records
        file_total += account_total
    records.append(f"99,{file_total},{group_count},{len(records) + 1}/")
    return (line_ending.join(records) + line_ending).encode("ascii")
