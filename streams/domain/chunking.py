"""Cutting an 835 file that is larger than one message into pieces at transaction-set boundaries.

A Kafka message has a size limit, and a worker should never hold a 50 MB file
in memory at once.  A large file is sent as several inputs, each its envelope
(ISA/GS) plus a run of whole ST/SE sets, so every piece reads on its own.  A
single set larger than the limit cannot be cut: it becomes an `Oversize`
piece, which the pipeline turns into a dead letter with its position.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from streams.domain.x12.tokenizer import Delimiters, isa_delimiters, st_delimiters

OVERSIZE_EXCERPT = 64 * 1024


@dataclass(frozen=True)
class Piece:
    """Bytes to send as one input, and where its sets start in the original file."""

    data: bytes
    file_offset: int  # offset in the file of the first byte after the envelope header
    header_length: int  # bytes of envelope header copied in front (ISA/GS)
    oversize: int = 0  # > 0: a single set of this many bytes, too large to send; data is an excerpt


def split_input(data: bytes, max_bytes: int) -> Iterator[Piece]:
    """Yield the input whole when it fits, else pieces of at most `max_bytes` cut between ST/SE sets."""
    if len(data) <= max_bytes:
        yield Piece(data, 0, 0)
        return
    text = data.decode("latin-1")
    starts = _set_starts(text)
    if not starts:
        yield Piece(data[:OVERSIZE_EXCERPT], 0, 0, oversize=len(data))
        return
    bounds = [*starts[1:], len(text)]
    run_start, run_end, header = starts[0], starts[0], _header_before(text, starts[0])
    for start, end in zip(starts, bounds, strict=True):
        own_header = _header_before(text, start)
        fits = len(own_header) + (end - run_start) <= max_bytes
        if run_end > run_start and (own_header != header or not fits):
            yield _piece(text, header, run_start, run_end)
            run_start = start
        header = own_header
        if len(header) + (end - start) > max_bytes:  # one set alone (or its envelope) is too large
            excerpt = (header + text[start : start + OVERSIZE_EXCERPT])[:OVERSIZE_EXCERPT]  # a huge ISA/GS too
            yield Piece(excerpt.encode("latin-1"), start, len(header), oversize=len(header) + end - start)
            run_start = end
        run_end = end
    if run_end > run_start:
        yield _piece(text, header, run_start, run_end)


def _piece(text: str, header: str, start: int, end: int) -> Piece:
    return Piece((header + text[start:end]).encode("latin-1"), start, len(header))


def _delimiters(text: str) -> Delimiters:
    isa = text.find("ISA")
    if isa >= 0:
        found = isa_delimiters(text, isa)
        if isinstance(found, Delimiters):
            return found
    st = text.find("ST")
    return st_delimiters(text, max(st, 0))


def _set_starts(text: str) -> list[int]:
    """Offsets of every ST segment (the start of each transaction set)."""
    d = _delimiters(text)
    pattern = re.compile(rf"(?:^|{re.escape(d.segment)})[\s~]*(ST{re.escape(d.element)})")
    return [m.start(1) for m in pattern.finditer(text)]


def _header_before(text: str, st: int) -> str:
    """The ISA..GS envelope in force at `st`: from the last ISA before it to the end of the last GS."""
    isa = text.rfind("ISA", 0, st)
    if isa < 0:
        return ""
    d = isa_delimiters(text, isa)
    if not isinstance(d, Delimiters):
        return ""
    gs = text.rfind(f"GS{d.element}", isa, st)
    end = text.find(d.segment, gs) + 1 if gs >= 0 else text.find(d.segment, isa) + 1
    return text[isa:end] + ("\n" if d.segment != "\n" else "")
