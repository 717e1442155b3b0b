"""What reading one bank file gives: deposits, dead letters, and an account of every record.

Both bank readers (NACHA, BAI2) fill one ``BankReadResult``. Every non-blank record of the file is
counted in exactly one of ``records``' buckets, so a test can prove nothing was dropped silently.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from schemas import DeadLetter, Deposit, SourceRef
from streams.domain.ids import stable_id

RAW_LIMIT = 2_000  # characters of a rejected record kept in its dead letter

# Where a record went (the keys of BankReadResult.records).
DEPOSIT = "deposit"  # part of a deposit (the entry and its addenda, a detail and its continuations)
DEAD_LETTER = "dead_letter"  # part of a dead letter
SKIPPED = "skipped"  # read, and not a claim payment (a payroll entry, a fee, a debit): see the notices
STRUCTURE = "structure"  # headers, controls and trailers
PADDING = "padding"  # NACHA blocking records of 9s


@dataclass
class BankReadResult:
    deposits: list[Deposit] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # never patient data, never account numbers
    records: Counter[str] = field(default_factory=Counter)  # bucket -> how many records went there
    total_records: int = 0


class RecordRejected(Exception):
    """A bank record that cannot be used: its error code and a message for a billing person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BankFileReader:
    """What both bank readers share: the file they read, its result, and the dead letter of a rejected record."""

    def __init__(self, file: str | None, source_id: str | None) -> None:
        self.file = file
        self.source_id = source_id
        self.result = BankReadResult()

    def read(self, data: bytes) -> None:
        raise NotImplementedError

    def read_all(self, data: bytes) -> BankReadResult:
        """Read the whole file; a bug in the reader dead-letters the file whole instead of losing it."""
        try:
            self.read(data)
        except MemoryError:
            raise
        except Exception as exc:
            self.internal_error(data, exc)
        return self.result

    def internal_error(self, data: bytes, exc: Exception) -> None:
        """A bug in the reader: the whole file becomes one dead letter, kept for `dead-letters replay` after a fix."""
        message = f"The bank file reader failed on this file ({type(exc).__name__}); it is kept for replay."
        self.result.dead_letters.append(
            self._dead_letter("internal_error", message, None, None, data.decode("latin-1"))
        )
        self.result.records[DEAD_LETTER] += self.result.total_records - sum(self.result.records.values())

    def _dead_letter(self, code: str, message: str, line: int | None, record_type: str | None, raw: str) -> DeadLetter:
        return dead_letter(
            code, message, file=self.file, source_id=self.source_id, line=line, record_type=record_type, raw=raw
        )


def canonical_amount(amount: Decimal) -> str:
    return format(amount.normalize(), "f") if amount else "0"


def dead_letter(
    code: str,
    message: str,
    *,
    file: str | None,
    source_id: str | None,
    line: int | None,
    record_type: str | None,
    raw: str,
    byte_offset: int | None = None,
) -> DeadLetter:
    """A bank-file dead letter. `message` is for a billing person and never holds account numbers."""
    return DeadLetter(
        dead_letter_id=stable_id(source_id, file, line, code),
        stage="ingest",
        error_code=code,
        message=message,
        source=SourceRef(
            file=file,
            source_id=source_id,
            byte_offset=byte_offset,
            line=line,
            segment_number=line,
            segment_tag=record_type,
        ),
        raw=raw[:RAW_LIMIT],
    )
