"""What the bank-ingest agent makes of one bank.raw message: deposits on their way to matching (rules §10).

A message is a whole bank deposit file (NACHA or BAI2, told apart by content). Its deposits go to
reassociation.in keyed by their trace, so each meets its ERA in one partition; the latest date the file shows is
sent to every partition as a clock tick. Plain Python over the message's bytes and headers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from schemas import DeadLetter, Deposit, Receipt
from streams.domain.bank import read_bank_file
from streams.ingest import Headers, header
from streams.kafka_io import SOURCE_FILE_HEADER, SOURCE_ID_HEADER


@dataclass
class IngestedBankFile:
    source_id: str
    file: str | None
    deposits: list[Deposit] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def latest_date(self) -> dt.date | None:
        return max((d.deposit_date for d in self.deposits if d.deposit_date), default=None)

    def receipt(self) -> Receipt:
        return Receipt(stage="ingested", source_id=self.source_id, file=self.file, dead_letters=len(self.dead_letters))

    def summary(self) -> str:
        """One log line: counts only (no file name, no account numbers)."""
        return (
            f"ingested bank file {self.source_id}: {len(self.deposits)} deposits, {len(self.dead_letters)} dead letters"
        )


def ingest_bank_file(data: bytes, headers: Headers, *, partition: int, offset: int) -> IngestedBankFile:
    source_id = header(headers, SOURCE_ID_HEADER) or f"{partition}:{offset}"
    file = header(headers, SOURCE_FILE_HEADER)
    read = read_bank_file(data, file=file, source_id=source_id)
    return IngestedBankFile(source_id, file, read.deposits, read.dead_letters, read.notices)
