"""The canonical order of remittances, and a pre-read of an 835 that tells where each of its sets falls in it.

A ledger applies remittances in one canonical order whatever order they arrive in (rules §3): when the payment was
produced (DTM*405, else GS04, else BPR16: `disbursement.production_date`), then whether it takes anything back (of
one day, an ERA with a reversal sorts after those without, so it never sorts before the payment it takes back), then
the trace number (TRN02, digit runs compared as numbers: EFT9 before EFT10), then the remittance id. A remittance
that arrives after one sorting later makes the ledger re-derive, so a backfill published in canonical order
(`takeback replay`, `takeback publish --canonical-order`) takes the ledger's cheap path. The pre-read finds those
segments with a few searches per transaction set, without reading the claims: a small fraction of a full read
(docs/benchmarks.md).
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import re
from functools import lru_cache

from streams.domain.chunking import at_segment_start, delimiters_of, set_starts
from streams.domain.disbursement import production_date
from streams.domain.x12.reader import envelope_time

OrderKey = tuple[str, str, str, str]
REVERSAL_STATUS = "22"  # CLP02 of a reversal (rules §3)
_DIGITS = re.compile(r"\d+")


def order_key(day: dt.date | None, trace_number: str, tie: str, takes_back: bool = False) -> OrderKey:
    """Canonical order: when the payment was produced, then whether it takes back (an ERA reversing a payment of
    the same day comes after it), then trace, then a fixed tie-break (the remittance id).

    Digit runs of a trace compare as numbers: check 99871 was issued before 100342, EFT9 before EFT10. A remittance
    with no date sorts first.
    """
    return (day.isoformat() if day else "", "1" if takes_back else "0", trace_sort_key(trace_number), tie)


@lru_cache(maxsize=1 << 16)  # a remittance's key is asked for several times as it is applied
def trace_sort_key(trace_number: str) -> str:
    """A trace as text that sorts its digit runs as numbers (each padded to 30 digits)."""
    if trace_number.isdigit():  # most traces: checks and EFT numbers
        return trace_number.zfill(30)
    return _DIGITS.sub(lambda run: run.group().zfill(30), trace_number)


def set_order_keys(data: bytes) -> list[OrderKey]:
    """The order key of each transaction set of an 835, in file order, from its BPR16, DTM*405, TRN02, its group's
    GS04 and whether a CLP02 says 22: what the reader's facts order by (facts.RemittanceFacts.order_key).

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
    groups = _group_dates(text, patterns[4], d.element, d.segment)
    bounds = [*starts[1:], len(text)]
    return [
        _set_key(text, start, end, patterns, (d.element, d.segment), _group_date_at(groups, start))
        for start, end in zip(starts, bounds, strict=True)
    ]


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
        generated = document.get("generated_at")
        produced = production_date(_iso_date(production), _iso_date(generated[:10] if generated else None))
        claims = document.get("claims") or []
        takes_back = any(str(c.get("status_code")) == REVERSAL_STATUS for c in claims)
        return order_key(produced or _iso_date(effective), str(document.get("trace_number") or ""), "", takes_back)
    except (ValueError, AttributeError):
        return order_key(None, "", "")


@lru_cache(maxsize=16)
def _header_patterns(segment: str, element: str) -> tuple[re.Pattern[str], ...]:
    """BPR, TRN and DTM*405 segments (their elements after the segment id), the first N1 that ends the header, and
    GS segments."""
    seg, el = re.escape(segment), re.escape(element)
    starts = rf"{seg}[\s~]*"  # what the reader tolerates between segments (as chunking.set_starts)
    body = rf"([^{seg}]*)"
    return (
        re.compile(rf"{starts}BPR{el}{body}"),
        re.compile(rf"{starts}TRN{el}{body}"),
        re.compile(rf"{starts}DTM{el}405{el}{body}"),
        re.compile(rf"{starts}(?:N1|LX|CLP){el}"),
        re.compile(rf"GS{el}{body}"),  # checked to start a segment (`at_segment_start`): a literal first is fast
    )


def _group_dates(
    text: str, gs: re.Pattern[str], element: str, terminator: str
) -> tuple[list[int], list[dt.date | None]]:
    """(offsets, GS04 dates) of the file's GS segments, in order: one pass, however many sets share a group. A date
    is kept only with a valid GS05, as the reader keeps it (`Remittance.generated_at`)."""
    offsets: list[int] = []
    dates: list[dt.date | None] = []
    for found in gs.finditer(text):
        if not at_segment_start(text, found.start(), terminator):
            continue
        offsets.append(found.start(1))
        generated = envelope_time(_element(found, element, 3), _element(found, element, 4))
        dates.append(generated.date() if generated else None)
    return offsets, dates


def _group_date_at(groups: tuple[list[int], list[dt.date | None]], at: int) -> dt.date | None:
    """GS04 of the group in force at offset `at` (the last GS before it), None when none is."""
    offsets, dates = groups
    index = bisect.bisect(offsets, at) - 1
    return dates[index] if index >= 0 else None


def _set_key(
    text: str,
    start: int,
    end: int,
    patterns: tuple[re.Pattern[str], ...],
    delimiters: tuple[str, str],
    gs04: dt.date | None,
) -> OrderKey:
    bpr, trn, dtm405, header_end, _ = patterns
    element, terminator = delimiters
    takes_back = _has_reversal(text, start, end, element, terminator)
    found = header_end.search(text, start, end)
    end = found.start() if found else end  # the header segments come before the first N1 (1000A loop)
    effective = _element(bpr.search(text, start, end), element, 15)
    trace = _element(trn.search(text, start, end), element, 1)
    dtm = _element(dtm405.search(text, start, end), element, 0)
    produced = production_date(_ccyymmdd(dtm), gs04)
    return order_key(produced or _ccyymmdd(effective), trace, "", takes_back)


def _has_reversal(text: str, start: int, end: int, element: str, terminator: str) -> bool:
    """Does a CLP of the set say CLP02 = 22? Found as the text "*22*" (str.find: a pass in C), then checked to be
    the second element of a CLP: most sets have none, and a set with a reversal has it early."""
    needle = f"{element}{REVERSAL_STATUS}{element}"
    at = text.find(needle, start, end)
    while at >= 0:
        segment = text.rfind(terminator, start, at) + 1
        head = text[segment:at].lstrip()
        if head.startswith(f"CLP{element}") and head.count(element) == 1:
            return True
        at = text.find(needle, at + 1, end)
    return False


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
