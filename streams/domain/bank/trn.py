"""The TRN reassociation string a payer puts in the ACH addenda of a healthcare EFT (rules §10).

NACHA's Healthcare EFT Standard puts the 835's whole TRN segment in the CCD+ addenda record:
``TRN*1*<TRN02>*<TRN03>[*<TRN04>]\\``. Banks copy it into BAI2 detail text, sometimes split over
continuation records or surrounded by other words, so it is searched for, not expected at a fixed place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# TRN01 is 1 (current transaction trace numbers); elements end at '*', the segment at '\' or '~'.
_TRN = re.compile(r"TRN\*1\*([^*\\~]*)(?:\*([^*\\~]*))?")
TRN03_LENGTH = 10  # "1" + a 9-digit EIN


@dataclass(frozen=True)
class TraceReference:
    trace_number: str  # TRN02
    payer_id: str  # TRN03


class BadTrace(ValueError):
    """A TRN string is there but unusable; the message says why, for a billing person."""


def find_trace(text: str) -> TraceReference | None:
    """The TRN02/TRN03 pair in `text`; None when `text` has no TRN; BadTrace when it is incomplete."""
    match = _TRN.search(text)
    if match is None:
        return None
    trace = match.group(1).strip()
    payer = (match.group(2) or "").strip()
    if not trace:
        raise BadTrace("The reassociation string (TRN) has no trace number (TRN02).")
    if not payer:
        raise BadTrace(f"The reassociation string (TRN) for trace {trace} has no payer id (TRN03).")
    if len(payer) > TRN03_LENGTH and payer[:TRN03_LENGTH].isdigit():
        payer = payer[:TRN03_LENGTH]  # text a bank ran into the id (BAI2 continuation): TRN03 is 10 characters
    return TraceReference(trace, payer)
