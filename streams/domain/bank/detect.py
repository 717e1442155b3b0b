"""Tell bank deposit files from 835s by their content (file names and extensions are not reliable)."""

from __future__ import annotations

from typing import Literal

BankFormat = Literal["nacha", "bai2"]
_BOMS = ("\ufeff", "\xef\xbb\xbf")


def bank_file_format(data: bytes) -> BankFormat | None:
    """'nacha' for a file whose first record is a 94-character file header (type 1), 'bai2' for one
    that starts with a 01 record; None for anything else (an 835, or not a bank file)."""
    head = data[:400].decode("latin-1")
    for bom in _BOMS:
        head = head.removeprefix(bom)
    head = head.lstrip("\r\n\t ")
    if head.startswith("01,"):
        return "bai2"
    first = head.splitlines()[0] if head else ""
    # A NACHA file header: '1', priority code '01', record size '094' at positions 35-37.
    if first.startswith("1") and len(first) >= 94 and first[34:37] == "094":
        return "nacha"
    return None
