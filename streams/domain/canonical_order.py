"""The canonical order of remittances, and a pre-read of an 835 that tells where each of its sets falls in it.

A ledger applies remittances in one canonical order whatever order they arrive in: when the payment was produced
(DTM*405, else BPR16: the takeback date of rules §5), then the trace number (TRN02, numeric traces as numbers),
then the remittance id. A remittance that arrives after one sorting later makes the ledger re-derive, so a backfill
published in canonical order (`takeback replay`, `takeback publish --canonical-order`) takes the ledger's cheap
path. The pre-read finds those three segments with a few regular-expression searches per transaction set, without
reading the claims: a small fraction of a full read (docs/benchmarks.md).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from functools import lru_cache

from streams.domain.chunking import delimiters_of, set_starts
from streams.domain.disbursement import takeback_date

OrderKey = tuple[str, str, str]


def order_key(day: dt.date | None, trace_number: str, tie: str) -> OrderKey:
    """Canonical order: when the payment was produced, then trace, then a fixed tie-break (the remittance id).

    Numeric traces (check and EFT numbers) compare as numbers: 99871 was issued before 100342. A remittance with
    no date sorts first.
    """
    trace = trace_number.zfill(30) if trace_number.isdigit() else trace_number
    return (day.isoformat() if day else "", trace, tie)


def set_order_keys(data: bytes) -> list[OrderKey]:
    """The order key of each transaction set of an 835, in file order, from its BPR16, DTM*405 and TRN02 alone.

    The tie-break is left empty: the remittance id hashes the whole set, which is what this pre-read avoids.
    A set missing a segment gets what the reader would give it (no date, an empty trace); a file without sets
    gives no keys.
    """
    text = data.decode("latin-1")
    starts = set_starts(text)
    if not starts:
        return []
    d = delimiters_of(text)
    patterns = _header_patterns(d.segment, d.element)
    bounds = [*starts[1:], len(text)]
    return [_set_key(text, start, end, patterns, d.element) for start, end in zip(starts, bounds, strict=True)]


def earliest_order_key(data: bytes) -> OrderKey:
    """Where an input falls in canonical order: an 835 at its earliest set, a Remittance as JSON (rules §1) at its
    own place. An input this cannot place (no readable set, not JSON) sorts first: it will be a dead letter."""
    if data.lstrip()[:1] == b"{":  # how ingest tells a JSON remittance from an 835
        return _json_order_key(data)
    return min(set_order_keys(data), default=order_key(None, "", ""))


def _json_order_key(data: bytes) -> OrderKey:
    try:
        document = json.loads(data)
        payment = document.get("payment") or {}
        production, effective = document.get("production_date"), payment.get("effective_date")
        day = takeback_date(_iso_date(production), _iso_date(effective))
        return order_key(day, str(document.get("trace_number") or ""), "")
    except (ValueError, AttributeError):
        return order_key(None, "", "")


@lru_cache(maxsize=16)
def _header_patterns(segment: str, element: str) -> tuple[re.Pattern[str], ...]:
    """BPR, TRN and DTM*405 segments (their elements after the segment id), and the first N1 that ends the header."""
    seg, el = re.escape(segment), re.escape(element)
    starts = rf"{seg}[\s~]*"  # what the reader tolerates between segments (as chunking.set_starts)
    body = rf"([^{seg}]*)"
    return (
        re.compile(rf"{starts}BPR{el}{body}"),
        re.compile(rf"{starts}TRN{el}{body}"),
        re.compile(rf"{starts}DTM{el}405{el}{body}"),
        re.compile(rf"{starts}(?:N1|LX|CLP){el}"),
    )


def _set_key(text: str, start: int, end: int, patterns: tuple[re.Pattern[str], ...], element: str) -> OrderKey:
    bpr, trn, dtm405, header_end = patterns
    found = header_end.search(text, start, end)
    end = found.start() if found else end  # the header segments come before the first N1 (1000A loop)
    effective = _element(bpr.search(text, start, end), element, 15)
    trace = _element(trn.search(text, start, end), element, 1)
    production = _element(dtm405.search(text, start, end), element, 0)
    return order_key(takeback_date(_ccyymmdd(production), _ccyymmdd(effective)), trace, "")


def _element(found: re.Match[str] | None, element: str, index: int) -> str:
    """Element `index` (0 = the first after the segment id, or after DTM01) of a segment found, "" when absent."""
    if found is None:
        return ""
    elements = found.group(1).split(element)
    return elements[index].strip() if index < len(elements) else ""


def _iso_date(value: object) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) and value else None


def _ccyymmdd(value: str) -> dt.date | None:
    if len(value) != 8 or not value.isdigit():
        return None
    try:
        return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None
