"""Bank deposit files (NACHA ACH, BAI2) and matching them to ERAs (rules §10)."""

from streams.domain.bank.bai2 import read_bai2
from streams.domain.bank.detect import BankFormat, bank_file_format
from streams.domain.bank.nacha import read_nacha
from streams.domain.bank.result import BankReadResult


def read_bank_file(
    data: bytes, *, file: str | None = None, source_id: str | None = None, format: BankFormat | None = None
) -> BankReadResult:
    """Deposits and dead letters from a NACHA or BAI2 file, told apart by content; never raises."""
    kind = format or bank_file_format(data)
    if kind == "bai2":
        return read_bai2(data, file=file, source_id=source_id)
    return read_nacha(data, file=file, source_id=source_id)


__all__ = ["BankFormat", "BankReadResult", "bank_file_format", "read_bai2", "read_bank_file", "read_nacha"]
