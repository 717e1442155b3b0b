"""X12 tokenizing: delimiters from the ISA (or the ST when there is no envelope), segments with offsets.

The bytes are decoded as latin-1, so a character offset in the text is the byte offset in the
file (a UTF-8 byte-order mark is skipped but still counted).  A file is cut into *regions*, one
per interchange (each ISA may declare its own delimiters); a region is split on its segment
terminator and every segment is stripped of surrounding whitespace and stray ``~`` (some
senders declare a newline terminator and still start every segment with ``~``).
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

from streams.domain.x12.notices import BYTES_BEFORE_FIRST_SEGMENT, Notice

BOM = "\xef\xbb\xbf"  # the UTF-8 byte-order mark, as latin-1 characters
STRIP = " \t\r\n\x0b\x0c~"  # around a segment: whitespace and stray '~'
ISA_SCAN_LIMIT = 512  # a padded ISA is 106 characters; an unpadded one is shorter
FILE_RAW_LIMIT = 64 * 1024  # raw text kept in a file-level dead letter


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str = "*"
    component: str = ":"
    segment: str = "~"
    repetition: str | None = None

    @property
    def standard(self) -> bool:
        """True when segments already read as '*' and ':' (no normalization needed)."""
        return self.element == "*" and self.component == ":"


@dataclass(slots=True)
class Region:
    """One interchange (or the whole file when there is no ISA) split into segments.

    ``texts[k]`` is the k-th non-blank segment, stripped; its number in the file is
    ``number0 + k``.  Offsets are computed on demand (re-splitting the original text), since
    only set starts and errors need them.
    """

    text: str  # the whole decoded file
    start: int
    end: int
    delimiters: Delimiters
    number0: int
    texts: list[str]
    piece_index: Sequence[int]  # texts[k] is piece number piece_index[k] of the region
    _starts: array[int] | None = field(default=None, repr=False)

    def _piece(self, i: int) -> tuple[int, str]:
        """Offset and original text of piece i."""
        starts = self._starts
        if starts is None:
            # where each piece starts, 8 bytes a piece: a list of the pieces themselves would hold a second copy of
            # every segment (millions of objects in a file of tiny segments)
            starts = self._starts = array("q", [self.start])
            terminator = re.compile(re.escape(self.delimiters.segment))
            starts.extend(found.end() for found in terminator.finditer(self.text, self.start, self.end))
            starts.append(self.end + 1)  # the region ends without a terminator
        start = starts[i]
        return start, self.text[start : starts[i + 1] - 1]

    def offset(self, k: int) -> int:
        """Offset of segment k's first character (after indentation) in the file."""
        start, piece = self._piece(self.piece_index[k])
        return start + len(piece) - len(piece.lstrip(STRIP))

    def end_offset(self, k: int) -> int:
        """Offset just past segment k's terminator (or the region end)."""
        start, piece = self._piece(self.piece_index[k])
        return min(start + len(piece) + 1, self.end)

    def number(self, k: int) -> int:
        return self.number0 + k

    def raw(self, first: int, last: int) -> str:
        """Original text from segment ``first`` to the end of segment ``last`` (inclusive)."""
        return self.text[self.offset(first) : self.end_offset(last)]


@dataclass(slots=True)
class FileError:
    """A problem that prevents reading (part of) the file: no X12 at all, a broken ISA."""

    code: str
    message: str
    offset: int
    number: int | None
    tag: str | None
    raw: str


@dataclass(slots=True)
class Tokenized:
    text: str
    regions: list[Region]
    errors: list[FileError]
    notices: list[Notice]


def _is_separator(ch: str) -> bool:
    """A usable delimiter: not a letter or digit, not a space (a newline terminator is fine)."""
    return len(ch) == 1 and not ch.isalnum() and ch != " "


def isa_delimiters(text: str, pos: int) -> Delimiters | str:
    """Delimiters declared by the ISA at ``pos``, or an error message.

    Not read at fixed offsets (103-105): unpadded ISAs exist.  The element separator follows
    "ISA"; ISA16 is the 16th element and its first character is the component separator; the
    next character terminates the segment.
    """
    element = text[pos + 3 : pos + 4]
    if not _is_separator(element) or element.isspace():
        return f"the element separator after ISA is {element!r}; a usable delimiter is not a letter, digit or space"
    limit = min(len(text), pos + ISA_SCAN_LIMIT)
    cut = pos + 3  # the separator before ISA01
    elements = []  # ISA01..ISA15
    for _ in range(15):
        nxt = text.find(element, cut + 1, limit)
        if nxt < 0:
            return "the ISA segment does not have 16 elements"
        elements.append(text[cut + 1 : nxt])
        cut = nxt
    component = text[cut + 1 : cut + 2]
    terminator = text[cut + 2 : cut + 3]
    for name, ch in (
        ("ISA16 (the component separator)", component),
        ("the segment terminator after ISA16", terminator),
    ):
        if not _is_separator(ch):
            shown = repr(ch) if ch else "missing"
            return f"{name} is {shown}; a letter, digit or space cannot be a delimiter, so the delimiters are wrong"
    if len({element, component, terminator}) < 3:
        return "the ISA declares the same character for two different delimiters"
    repetition = elements[10] if elements[11] >= "00501" else None  # ISA11 is a separator from 5010 on
    if repetition is not None and not (_is_separator(repetition) and repetition not in (element, terminator)):
        repetition = None
    return Delimiters(element, component, terminator, repetition)


def st_delimiters(text: str, pos: int) -> Delimiters:
    """Delimiters of a file without envelope, starting at the ST at ``pos``.

    Element separator: the character after "ST".  Terminator: the first character after it that
    is neither alphanumeric nor the element separator (default '~').  Component separator: ':'
    unless the first SVC01 or PLB03 composite shows another one after its qualifier.
    """
    element = text[pos + 2 : pos + 3]
    terminator = "~"
    for ch in text[pos + 3 : pos + 64]:
        if not ch.isalnum() and ch != element and ch != " ":
            terminator = ch
            break
    hint = _component_hint(element, terminator).search(text, pos, pos + FILE_RAW_LIMIT)
    component = hint.group(1) if hint else ":"
    return Delimiters(element, component, terminator)


def _component_hint(element: str, terminator: str) -> re.Pattern[str]:
    """The first SVC01 or PLB03 composite: a qualifier (HC, AD, WO, ...) then the separator."""
    e, t = re.escape(element), re.escape(terminator)
    other = f"[^{e}{t}]*"
    return re.compile(f"(?:SVC|PLB{e}{other}{e}{other}){e}[A-Z0-9]{{1,3}}([^A-Za-z0-9{e}{t}\\s~])")


_LEAD = re.compile(r"[ \t\r\n\x0b\x0c~]*")
_ANY_ISA = re.compile(r"ISA[^A-Za-z0-9\s]")
_ANY_ST = re.compile(r"(?<![A-Za-z0-9])ST([^A-Za-z0-9\s])835\1")


def _first_segment(text: str, pos: int) -> tuple[int, str] | None:
    """Where the X12 starts: ("ISA" or "ST", offset), skipping whitespace and stray '~'."""
    lead = _LEAD.match(text, pos).end()
    if text.startswith("ISA", lead) and _is_separator(text[lead + 3 : lead + 4]):
        return lead, "ISA"
    if text.startswith("ST", lead) and _is_separator(text[lead + 2 : lead + 3]):
        return lead, "ST"
    found = _ANY_ISA.search(text, pos)
    if found:
        return found.start(), "ISA"
    found = _ANY_ST.search(text, pos)
    if found:
        return found.start(), "ST"
    return None


def _next_isa(text: str, pos: int, terminator: str) -> int:
    """Offset of the next ISA that starts a segment after ``pos``, or len(text)."""
    cut = pos
    while True:
        cut = text.find("ISA", cut + 1)
        if cut < 0:
            return len(text)
        if _is_separator(text[cut + 3 : cut + 4]) and _starts_segment(text, cut, terminator):
            return cut
        # "ISA" inside data (e.g. "LISA*") is not a new interchange


def _starts_segment(text: str, cut: int, terminator: str) -> bool:
    """True when only whitespace or '~' separate ``cut`` from the previous terminator."""
    back = cut - 1
    while back >= 0:
        ch = text[back]
        if ch == terminator:
            return True
        if ch not in STRIP:
            return False
        back -= 1
    return True


def _split(text: str, start: int, end: int, delimiters: Delimiters, number0: int) -> Region:
    term = delimiters.segment
    body = text[start:end]
    if not ({term, delimiters.element, delimiters.component} & {"\r", "\n"}):
        # the usual line break after each terminator, removed in C rather than per segment
        body = body.replace(term + "\r\n", term).replace(term + "\n", term)
    # indentation, stray '~', other spacing (strip returns the same string when there is none)
    texts = [t.strip(STRIP) for t in body.split(term)]
    blanks = texts.count("")
    if blanks == 0:
        piece_index: Sequence[int] = range(len(texts))
    elif blanks == 1 and texts[-1] == "":  # the usual empty piece after the last terminator
        texts.pop()
        piece_index = range(len(texts))
    else:
        piece_index = [i for i, t in enumerate(texts) if t]
        texts = [texts[i] for i in piece_index]
    return Region(text, start, end, delimiters, number0, texts, piece_index)


def tokenize(data: bytes) -> Tokenized:
    """Cut ``data`` into regions of segments; never raises for any bytes."""
    text = data.decode("latin-1")
    out = Tokenized(text, [], [], [])
    pos = len(BOM) if text.startswith(BOM) else 0
    first = _first_segment(text, pos)
    if first is None:
        lead = _LEAD.match(text, pos).end()
        if text.startswith("ISA", lead) and len(text) > lead + 3:  # an ISA, but not followed by a separator
            shown = repr(text[lead + 3])
            message = (
                f"Interchange at byte {lead}: the element separator after ISA is {shown}; a letter, digit or space "
                "cannot be a delimiter, so the file's delimiters are wrong."
            )
            out.errors.append(FileError("bad_envelope", message, lead, 1, "ISA", text[:FILE_RAW_LIMIT]))
            return out
        message = "The file is empty." if not text[pos:].strip() else "The file holds no X12 (no ISA or ST)."
        out.errors.append(FileError("not_x12", message, pos, None, None, text[:FILE_RAW_LIMIT]))
        return out
    start, kind = first
    if text[pos:start].strip(STRIP):
        out.notices.append(
            Notice(BYTES_BEFORE_FIRST_SEGMENT, f"skipped {start - pos} bytes before the first segment at byte {start}")
        )
    number0 = 1
    while start < len(text):
        delimiters = isa_delimiters(text, start) if kind == "ISA" else st_delimiters(text, start)
        if isinstance(delimiters, str):
            end = _next_isa(text, start, "~")
            raw = text[start : min(end, start + FILE_RAW_LIMIT)]
            message = f"Interchange at byte {start}: {delimiters}."
            out.errors.append(FileError("bad_envelope", message, start, number0, "ISA", raw))
            number0 += 1
        else:
            end = _next_isa(text, start, delimiters.segment)
            region = _split(text, start, end, delimiters, number0)
            out.regions.append(region)
            number0 += len(region.texts)
        start, kind = end, "ISA"
    return out
