"""Cutting an 835 file into pieces at transaction-set boundaries: by size, and by payee.

A Kafka message has a size limit, and a worker should never hold a 50 MB file
in memory at once.  A large file is sent as several inputs, each its envelope
(ISA/GS) plus a run of whole ST/SE sets, so every piece reads on its own.  A
single set larger than the limit cannot be cut: it becomes an `Oversize`
piece, which the pipeline turns into a dead letter with its position.

A file whose sets pay several payees is cut where the payee changes, so each
piece can be keyed by its own payee: a provider's ERAs then travel through one
partition, in the order they were published, and its ledger applies them one
by one instead of re-deriving for each that arrives late.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from streams.domain.ids import ledger_key
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
    """Yield the input whole when it fits and pays one payee, else pieces cut between ST/SE sets, each of at
    most `max_bytes` and for one payee."""
    if len(data) <= max_bytes and len(_payees_named(data)) <= 1:
        yield Piece(data, 0, 0)
        return
    text = data.decode("latin-1")
    starts = set_starts(text)
    if not starts:
        if len(data) <= max_bytes:  # names payees but has no set to cut at: it reads (or fails) as it is
            yield Piece(data, 0, 0)
        else:
            yield Piece(data[:OVERSIZE_EXCERPT], 0, 0, oversize=len(data))
        return
    bounds = [*starts[1:], len(text)]
    run_start, run_end, header = starts[0], starts[0], _header_before(text, starts[0])
    run_payee = _payee_of(data, starts[0], bounds[0])  # text and data share offsets (latin-1)
    for start, end in zip(starts, bounds, strict=True):
        own_header = _header_before(text, start)
        payee = _payee_of(data, start, end)
        fits = len(own_header) + (end - run_start) <= max_bytes
        if run_end > run_start and (own_header != header or not fits or payee != run_payee):
            yield _piece(text, header, run_start, run_end)
            run_start = start
        header, run_payee = own_header, payee
        if len(header) + (end - start) > max_bytes:  # one set alone (or its envelope) is too large
            excerpt = (header + text[start : start + OVERSIZE_EXCERPT])[:OVERSIZE_EXCERPT]  # a huge ISA/GS too
            yield Piece(excerpt.encode("latin-1"), start, len(header), oversize=len(header) + end - start)
            run_start = end
        run_end = end
    if run_end > run_start:
        yield _piece(text, header, run_start, run_end)


def _piece(text: str, header: str, start: int, end: int) -> Piece:
    return Piece((header + text[start:end]).encode("latin-1"), start, len(header))


def delimiters_of(text: str) -> Delimiters:
    """The delimiters of a file: its first ISA's, else those of its first ST (a file without envelope)."""
    isa = text.find("ISA")
    if isa >= 0:
        found = isa_delimiters(text, isa)
        if isinstance(found, Delimiters):
            return found
    st = text.find("ST")
    return st_delimiters(text, max(st, 0))


def set_starts(text: str) -> list[int]:
    """Offsets of every ST segment (the start of each transaction set): "ST" and the element separator, at the
    start of the text or after a segment terminator, with blanks and stray '~' between them as the reader allows.

    Found with `str.find` and checked backwards: a regular expression that begins with "start or terminator"
    cannot skip ahead to a literal, and tried every position of a file (most of the canonical-order pre-read).
    """
    d = delimiters_of(text)
    st = f"ST{d.element}"
    starts = []
    at = text.find(st)
    while at >= 0:
        if at_segment_start(text, at, d.segment):
            starts.append(at)
        at = text.find(st, at + 1)
    return starts


def at_segment_start(text: str, at: int, terminator: str) -> bool:
    before = at - 1
    while before >= 0 and (text[before].isspace() or text[before] == "~"):
        if text[before] == terminator:
            return True
        before -= 1
    return before < 0 or text[before] == terminator


_PAYEE = re.compile(rb"N1(?P<sep>[^A-Za-z0-9\s])PE(?P=sep)")
_ID = re.compile(rb"[A-Za-z0-9_.-]*")


def ledger_key_of(data: bytes, within: int = 16384) -> str | None:
    """The ledger key (streams.domain.ids.ledger_key) of the first set that names a payee, read ahead of the reader:
    N1*PE's N103/N104 and the REF*TJ of the payee loop, looked for in the first `within` bytes. None when it
    cannot tell.

    Feeds key era.raw by it, so the ingest agent finds each remittance's ledger in the partition it reads from and
    applies it there, and one TIN's ERAs are ingested in the order they were published. A wrong guess costs speed,
    not correctness: the ingest agent sends a remittance whose ledger lives elsewhere on to it.
    """
    match = _PAYEE.search(data, 0, within)
    if match is None:
        return None
    qualifier, ident = _payee_named_at(data, match)
    sep = re.escape(match.group("sep"))
    loop_end = re.compile(rb"[^A-Za-z0-9](?:LX|CLP|PLB|SE)" + sep).search(data, match.end(), match.end() + 4096)
    stop = loop_end.start() if loop_end else match.end() + 4096
    tin_ref = re.compile(rb"REF" + sep + rb"TJ" + sep).search(data, match.end(), stop)
    tin = _ID.match(data, tin_ref.end()).group() if tin_ref else b""  # type: ignore[union-attr]
    if not ident and not tin:
        return None
    payee = (ident or tin).decode("latin-1")  # the reader's payee id: N104, else REF*TJ
    return ledger_key(payee, tin.decode("latin-1") or None, qualifier.decode("latin-1") if ident else None)


def _payee_named_at(data: bytes, match: re.Match[bytes]) -> tuple[bytes, bytes]:
    """(N103, N104) of the N1*PE segment `match` found: how the payee is identified."""
    elements = data[match.end() : match.end() + 200].split(match.group("sep"), 3)
    qualifier = elements[1] if len(elements) > 1 else b""
    ident = _ID.match(elements[2]).group() if len(elements) > 2 else b""  # type: ignore[union-attr]
    return qualifier, ident


def _payees_named(data: bytes) -> set[tuple[bytes, bytes]]:
    """The distinct payees (N1*PE) an input names, up to two: enough to tell one from several."""
    payees: set[tuple[bytes, bytes]] = set()
    for match in _PAYEE.finditer(data):
        payees.add(_payee_named_at(data, match))
        if len(payees) > 1:
            break
    return payees


def _payee_of(data: bytes, start: int, end: int) -> tuple[bytes, bytes] | None:
    """The payee the set at data[start:end] pays (its first N1*PE), None when it names none."""
    match = _PAYEE.search(data, start, end)
    return _payee_named_at(data, match) if match else None


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
