"""Read X12 835 transaction sets (ST/SE) into ``Remittance`` events, or dead letters.

One ST/SE is one remittance.  The reader is the validator: it parses every value into its
final Python type (``Decimal``, ``datetime.date``, ``str``, lists of models) and then builds
the pydantic models without re-validating them (``builders``), which keeps it fast on large
files.  Identity (the remittance id, the body hash) is in ``identity``.

Error handling: a problem in one transaction set turns that set into a dead letter and the
reader moves on to the next; only MemoryError escapes ``read_835``.
"""

from __future__ import annotations

import datetime as dt
import gc
import re
from dataclasses import dataclass, field
from decimal import Context, Decimal, DivisionByZero, InvalidOperation, Overflow, localcontext
from typing import Any

from schemas import (
    ZERO,
    ClaimPayment,
    DeadLetter,
    Patient,
    Payee,
    Payer,
    Payment,
    ProviderAdjustment,
    Remittance,
    SourceRef,
)
from streams.domain.disbursement import payment_not_moved, signed_amount, zero_payment_allowed
from streams.domain.ids import stable_id
from streams.domain.x12.builders import (
    build,
    build_adjustment,
    build_amount_ref,
    build_claim_payment,
    build_date_ref,
    build_reference,
    build_service_line,
)
from streams.domain.x12.identity import body_hash, remittance_id
from streams.domain.x12.notices import (
    GE_WITHOUT_GROUP,
    GROUP_WITHOUT_GE,
    IEA_WITHOUT_INTERCHANGE,
    INTERCHANGE_WITHOUT_IEA,
    NO_ENVELOPE,
    NON_835_SET_SKIPPED,
    SE_WITHOUT_ST,
    SEGMENTS_OUTSIDE_SETS,
    UNTERMINATED_SET_SKIPPED,
    Notice,
)
from streams.domain.x12.tokenizer import FILE_RAW_LIMIT, Region, tokenize

ENVELOPE = frozenset(("ISA", "GS", "ST", "SE", "GE", "IEA"))
MAX_NUMBER_LENGTH = 30  # X12 amounts are at most 18 digits; longer is garbage (and slow Decimal math)
_NUMBER_CHARS = "0123456789.-"
_DATE = re.compile(r"[0-9]{8}")
_ENVELOPE_TIME = re.compile(r"([0-9]{8})([0-9]{4})([0-9]{2})?[0-9]{0,2}")  # CCYYMMDD, HHMM, then SS and DD of GS05
CAS_TRIPLETS = (2, 5, 8, 11, 14, 17)  # CAS02/03/04 ... CAS17/18/19
PLB_PAIRS = (3, 5, 7, 9, 11, 13)  # PLB03/04 ... PLB13/14
MIA_REMARKS = (5, 20, 21, 22, 23, 24)
MOA_REMARKS = (3, 4, 5, 6, 7)
CAS_NAMES = {i: f"CAS{i:02d} (adjustment {'amount' if i % 3 == 0 else 'quantity'})" for i in range(3, 21)}
PLB_NAMES = {i: f"PLB{i:02d} (adjustment amount)" for i in range(4, 15, 2)}
_UNSEEN = object()
# exact sums of up to 30-digit amounts; invalid numbers raise instead of becoming NaN
_DECIMAL_CONTEXT = Context(prec=60, traps=[InvalidOperation, DivisionByZero, Overflow])


@dataclass(frozen=True, slots=True)
class ReaderLimits:
    """Caps per transaction set, so a hostile file cannot make the reader hold millions of objects (its memory
    grows with what it builds).  A set past a cap is a ``set_too_large`` dead letter; the file's other sets are read.

    Far above real ERAs: a set is one payment to one payee; large ones hold thousands of claims of about 10-30
    segments and 1-3 adjustments each (the bench's synthetic sets: 200 claims, ~2,000 segments).  The 835 guide
    bounds CAS per claim and per line, not per set, so a set of many claims needs its own cap.  The caps also sit
    near what one input can hold: a 16 MiB input of ordinary segments is about 650,000 of them.  Under them the
    reader peaks at about 10-17 bytes per input byte even on floods of tiny segments (docs/benchmarks.md)."""

    segments: int = 1_000_000  # ST to SE; checked before any segment is split
    claims: int = 100_000  # CLP: 50 times a very large payment's claims
    adjustments: int = 300_000  # CAS reason/amount pairs plus PLB adjustments: 3 per claim at the claims cap


DEFAULT_LIMITS = ReaderLimits()


@dataclass
class ReadResult:
    remittances: list[Remittance] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)  # never patient data


def read_835(
    data: bytes,
    *,
    file: str | None = None,
    source_id: str | None = None,
    include_patient_data: bool = False,
    accepted_dead_letter: str | None = None,
    limits: ReaderLimits = DEFAULT_LIMITS,
) -> ReadResult:
    """Read every 835 transaction set in ``data``. Never raises (except MemoryError).

    ``accepted_dead_letter``: ``data`` is the input of that ``unbalanced_remittance`` dead letter, which a person
    checked and accepted (``takeback dead-letters replay --accept``, rules §7): when ``data`` holds exactly one
    transaction set, it is applied although it does not balance, flagged ``accepted_unbalanced``.
    ``limits``: the caps per transaction set (``ReaderLimits``).
    """
    reader = _FileReader(file, source_id, include_patient_data, accepted_dead_letter, limits)
    # A large 835 allocates millions of small containers that all survive (the models being
    # built), so the cyclic collector keeps re-scanning a growing heap for nothing.  The reader
    # creates no reference cycles; pause it, restore it after (inline: a @contextmanager was slower).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        with localcontext(_DECIMAL_CONTEXT):  # the caller's context may round or not trap
            reader.read(data)
    except MemoryError:
        raise
    except Exception as exc:  # a reader bug must not lose the file: dead-letter it whole
        raw = data if isinstance(data, bytes) else b""
        reader.file_dead_letter(
            "internal_error", f"The reader failed on this file ({type(exc).__name__}).", 0, None, None, raw
        )
    finally:
        if gc_was_enabled:
            gc.enable()
    reader.finish()
    return reader.result


# --------------------------------------------------------------------------- errors


class _Reject(Exception):
    """The current transaction set cannot be applied: becomes a dead letter."""

    def __init__(self, code: str, message: str, index: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.index = index  # segment index in the region (the offending segment)


def _fmt(amount: Decimal) -> str:
    """Amount for a message: 1,234.50."""
    return f"{amount:,.2f}"


# --------------------------------------------------------------------------- file level


class _FileReader:
    """Walks the envelopes (ISA/GS/ST/SE/GE/IEA) of a file and hands each 835 set to _SetReader."""

    def __init__(
        self,
        file: str | None,
        source_id: str | None,
        include_patient_data: bool,
        accepted: str | None = None,
        limits: ReaderLimits = DEFAULT_LIMITS,
    ) -> None:
        self.file = file
        self.limits = limits
        self.source_id = source_id
        self.include_patient_data = include_patient_data
        self.accepted = accepted  # the dead letter a person accepted (rules §7), when this input replays it
        self.accepting = False  # set once the input is known to hold the one set that dead letter was
        self.result = ReadResult()
        self.numbers: dict[str, Decimal | None] = {}  # parsed numbers, by text (files repeat them)
        self.dates: dict[str, dt.date | None] = {}
        self.isa: int | None = None  # segment number of the open ISA
        self.gs: int | None = None
        self.isa12 = ""
        self.gs08 = ""
        self.isa_time: dt.datetime | None = None  # ISA09+ISA10 of the open interchange
        self.gs_time: dt.datetime | None = None  # GS04+GS05 of the open functional group
        self.outside = 0  # segments outside any transaction set
        self.sets = 0
        self.first_skipped: tuple[int, int] | None = None  # (byte offset, segment number) of a non-835 set

    # ---- entry points

    def read(self, data: bytes) -> None:
        tokens = tokenize(data)
        self.result.notices.extend(tokens.notices)
        self.accepting = self.accepted is not None and _set_count(tokens.regions) == 1
        for error in tokens.errors:
            self.file_dead_letter(error.code, error.message, error.offset, error.number, error.tag, error.raw)
        for region in tokens.regions:
            self._region(region)

    def finish(self) -> None:
        """Closing notices; an input that produced nothing at all still produces a dead letter."""
        if self.gs is not None:
            self.result.notices.append(Notice(GROUP_WITHOUT_GE, f"functional group at segment {self.gs} has no GE"))
        if self.isa is not None:
            self.result.notices.append(Notice(INTERCHANGE_WITHOUT_IEA, f"interchange at segment {self.isa} has no IEA"))
        if self.outside:
            self.result.notices.append(
                Notice(SEGMENTS_OUTSIDE_SETS, f"ignored {self.outside} segments outside any transaction set")
            )
        result = self.result
        if not (result.remittances or result.dead_letters or self.sets):
            message = "The file holds no transaction set (ST/SE)."
            self.file_dead_letter("bad_envelope", message, 0, None, None, b"")
        elif not (result.remittances or result.dead_letters):  # sets, none of them an 835: the feed sent the wrong file
            skipped = "; ".join(result.notices)
            message = f"The file holds no 835 (remittance advice) transaction set: {skipped}."
            offset, number = self.first_skipped or (0, None)
            self.file_dead_letter("not_835", message, offset, number, "ST", b"")

    def file_dead_letter(
        self, code: str, message: str, offset: int, number: int | None, tag: str | None, raw: str | bytes
    ) -> None:
        text = raw[:FILE_RAW_LIMIT].decode("latin-1") if isinstance(raw, bytes) else raw[:FILE_RAW_LIMIT]
        self.result.dead_letters.append(self._dead_letter(code, message, offset, number, tag, text))

    def _dead_letter(
        self, code: str, message: str, offset: int, number: int | None, tag: str | None, raw: str
    ) -> DeadLetter:
        source = build(
            SourceRef,
            {
                "file": self.file,
                "source_id": self.source_id,
                "byte_offset": offset,
                "segment_number": number,
                "segment_tag": tag,
                "line": None,
                "topic": None,
                "partition": None,
                "offset": None,
            },
        )
        return build(
            DeadLetter,
            {
                "dead_letter_id": stable_id(self.source_id or "", self.file or "", str(offset), code),
                "stage": "ingest",
                "error_code": code,
                "message": message,
                "source": source,
                "raw": raw,
            },
        )

    # ---- envelopes

    def _region(self, region: Region) -> None:
        """Walk the envelope segments; split a set's segments into elements only when reading it
        (splitting set by set lets memory be reused, which is faster than splitting the file)."""
        texts = region.texts
        element = region.delimiters.element
        if texts and texts[0].startswith("ST" + element) and region.number0 == 1:
            self.result.notices.append(Notice(NO_ENVELOPE, "no ISA/GS envelope: delimiters taken from the ST segment"))
        prefixes = tuple(tag + element for tag in ENVELOPE)
        open_set: int | None = None
        previous = -1
        for k in [k for k, text in enumerate(texts) if text.startswith(prefixes)]:
            if open_set is None:
                self.outside += k - previous - 1
            row = texts[k].split(element)
            tag = row[0]
            if tag == "ST":
                if open_set is not None:
                    self._truncated(region, open_set, k - 1)
                open_set = k
            elif tag == "SE":
                if open_set is None:
                    self.result.notices.append(
                        Notice(SE_WITHOUT_ST, f"SE at segment {region.number(k)} has no ST; ignored")
                    )
                else:
                    self._set(region, open_set, k)
                    open_set = None
            else:
                if open_set is not None:
                    self._truncated(region, open_set, k - 1)
                    open_set = None
                self._envelope(tag, row, region.number(k))
            previous = k
        if open_set is not None:
            self._truncated(region, open_set, len(texts) - 1)
        else:
            self.outside += len(texts) - previous - 1

    def _envelope(self, tag: str, row: list[str], number: int) -> None:
        notices = self.result.notices
        if tag in ("ISA", "IEA") and self.gs is not None:
            notices.append(Notice(GROUP_WITHOUT_GE, f"functional group at segment {self.gs} has no GE"))
            self.gs = None
        if tag == "ISA":
            if self.isa is not None:
                notices.append(Notice(INTERCHANGE_WITHOUT_IEA, f"interchange at segment {self.isa} has no IEA"))
            self.isa, self.isa12, self.gs08 = number, _element(row, 12), ""
            self.isa_time, self.gs_time = _envelope_time("20" + _element(row, 9).strip(), _element(row, 10)), None
        elif tag == "GS":
            if self.gs is not None:
                notices.append(Notice(GROUP_WITHOUT_GE, f"functional group at segment {self.gs} has no GE"))
            self.gs, self.gs08 = number, _element(row, 8)
            self.gs_time = _envelope_time(_element(row, 4), _element(row, 5))
        elif tag == "GE":
            if self.gs is None:
                notices.append(Notice(GE_WITHOUT_GROUP, f"GE at segment {number} closes no functional group"))
            self.gs, self.gs_time = None, None
        elif tag == "IEA":
            if self.isa is None:
                notices.append(Notice(IEA_WITHOUT_INTERCHANGE, f"IEA at segment {number} closes no interchange"))
            self.isa, self.isa_time = None, None

    def version(self, st_row: list[str]) -> str | None:
        """'4010', '5010', or the raw GS08/ISA12 (masked or unknown versions are still read)."""
        for value, v4010, v5010 in (
            (self.gs08, "004010", "005010"),
            (self.isa12, "00401", "00501"),
            (_element(st_row, 3), "004010", "005010"),
        ):
            if value.startswith(v4010):
                return "4010"
            if value.startswith(v5010):
                return "5010"
        return self.gs08 or self.isa12 or None

    # ---- transaction sets

    def _set(self, region: Region, st: int, se: int) -> None:
        self.sets += 1
        element = region.delimiters.element
        kind = _element(region.texts[st].split(element), 1)
        if kind != "835":
            shown = kind if kind.isalnum() and len(kind) <= 6 else "(unreadable)"
            self.result.notices.append(
                Notice(NON_835_SET_SKIPPED, f"skipped transaction set {shown} at segment {region.number(st)}")
            )
            if self.first_skipped is None:  # where a file of nothing but other sets is reported (finish)
                self.first_skipped = (region.offset(st), region.number(st))
            return
        if se - st + 1 > self.limits.segments:  # before splitting any of them: the cap bounds the reader's memory
            message = (
                f"The transaction set at segment {region.number(st)} has {se - st + 1:,} segments, more than the "
                f"limit of {self.limits.segments:,} (TAKEBACK_MAX_SET_SEGMENTS); it was not read."
            )
            self._set_dead_letter("set_too_large", message, region, st, st, se)
            return
        try:
            remittance = _SetReader(self, region, st, se).read()
        except _Reject as reject:
            self._set_dead_letter(reject.code, reject.message, region, reject.index, st, se)
        except MemoryError:
            raise
        except Exception as exc:  # a reader bug: keep the set for replay rather than lose it
            where = f"the transaction set at segment {region.number(st)}"
            message = f"The reader failed on {where} ({type(exc).__name__})."
            self._set_dead_letter("internal_error", message, region, st, st, se)
        else:
            remittance.sequence = len(self.result.remittances)
            self.result.remittances.append(remittance)

    def _truncated(self, region: Region, st: int, last: int) -> None:
        self.sets += 1
        if _element(region.texts[st].split(region.delimiters.element), 1) != "835":
            self.result.notices.append(
                Notice(UNTERMINATED_SET_SKIPPED, f"skipped unterminated transaction set at segment {region.number(st)}")
            )
            return
        message = (
            f"The transaction set starting at segment {region.number(st)} has no SE: "
            "the file is cut short or its envelope is broken."
        )
        self._set_dead_letter("truncated", message, region, st, st, last)

    def _set_dead_letter(self, code: str, message: str, region: Region, k: int, st: int, last: int) -> None:
        tag = region.texts[k].split(region.delimiters.element, 1)[0]
        if code == "set_too_large":  # reading it again cannot help until the limit is raised: an excerpt will do
            start = region.offset(st)
            raw = region.text[start : min(region.end_offset(last), start + FILE_RAW_LIMIT)]
        else:
            raw = region.raw(st, last)
        offset, number = region.offset(k), region.number(k)
        self.result.dead_letters.append(self._dead_letter(code, message, offset, number, tag, raw))


def _set_count(regions: list[Region]) -> int:
    """How many transaction sets (ST segments) the input holds."""
    return sum(1 for region in regions for text in region.texts if text.startswith("ST" + region.delimiters.element))


def _envelope_time(date_text: str, time_text: str) -> dt.datetime | None:
    """CCYYMMDD (GS04, or ISA09 with its century) and HHMM[SS...] (GS05, ISA10) as a time; None when not valid.

    Only used to tell which version of a re-issued payment is later (rules §2), so a bad value is no reason to
    reject a remittance."""
    match = _ENVELOPE_TIME.fullmatch(date_text.strip() + time_text.strip())
    if match is None:
        return None
    day, hhmm, seconds = match.groups()
    try:
        return dt.datetime(int(day[:4]), int(day[4:6]), int(day[6:]), int(hhmm[:2]), int(hhmm[2:]), int(seconds or 0))
    except ValueError:
        return None


def _element(row: list[str], index: int) -> str:
    return row[index] if index < len(row) else ""


def _optional(row: list[str], index: int) -> str | None:
    """Element ``index`` or None when absent or empty."""
    return (row[index] or None) if index < len(row) else None


# --------------------------------------------------------------------------- one transaction set


class _SetReader:
    """Parses one ST..SE into a Remittance, raising _Reject for anything that prevents applying it.

    Segment handlers are plain methods looked up by tag (``_HANDLERS``).  The claim and the
    service line being read are kept as the ``__dict__`` of their models, built when their
    segment arrives; later CAS/REF/DTM/AMT segments append to ``target``, the open line or
    else the open claim.
    """

    __slots__ = (
        "adjustment_count",
        "bpr_index",
        "claim",
        "claim_cas",
        "claims",
        "component",
        "dates",
        "element",
        "flags",
        "limits",
        "line",
        "line_cas",
        "numbers",
        "patients",
        "payee_n1",
        "payee_state",
        "payer_n1",
        "payment",
        "phase",
        "plb",
        "production_date",
        "reader",
        "ref_2u",
        "ref_tj",
        "region",
        "se",
        "st",
        "target",
        "trace",
        "trn_index",
    )

    def __init__(self, reader: _FileReader, region: Region, st: int, se: int) -> None:
        self.reader = reader
        self.region = region
        self.element = region.delimiters.element
        self.limits = reader.limits
        self.adjustment_count = 0  # CAS and PLB adjustments read so far (capped: limits.adjustments)
        self.st = st
        self.se = se
        self.component = region.delimiters.component
        self.numbers = reader.numbers
        self.dates = reader.dates
        self.patients = reader.include_patient_data
        self.phase = "header"  # header -> claims (LX/CLP) -> trailer (PLB)
        self.bpr_index = st
        self.payment: Payment | None = None
        self.trace: tuple[str, str | None] | None = None
        self.trn_index = st
        self.production_date: dt.date | None = None
        self.payer_n1: list[str] | None = None
        self.payee_n1: tuple[list[str], int] | None = None
        self.payee_state: str | None = None
        self.ref_2u: str | None = None
        self.ref_tj: str | None = None
        self.claims: list[ClaimPayment] = []
        self.plb: list[ProviderAdjustment] = []
        self.flags: list[str] = []
        self.claim: dict[str, Any] | None = None  # __dict__ of the open ClaimPayment
        self.claim_cas = ZERO  # claim-level plus line-level CAS of the open claim
        self.line: dict[str, Any] | None = None  # __dict__ of the open ServiceLine
        self.line_cas = ZERO
        self.target: dict[str, Any] | None = None  # the open line, else the open claim

    # ---- driver

    def read(self) -> Remittance:
        handlers = _HANDLERS if self.patients else _HANDLERS_WITHOUT_PATIENTS
        # Each segment is split when it is read, not the whole set first: only the rows a handler keeps stay alive.
        element = self.element
        for k, text in enumerate(self.region.texts[self.st + 1 : self.se], self.st + 1):
            row = text.split(element)
            handler = handlers.get(row[0])
            if handler is not None:
                handler(self, row, k)
        self._close_claim()
        return self._remittance()

    # ---- values

    def number(self, text: str, name: str, k: int) -> Decimal | None:
        """``text`` as a Decimal; None when empty; a bad_amount rejection when not a number."""
        value = self.numbers.get(text)
        if value is None and text:
            # X12 numbers are digits, one optional '.', optional leading '-' (no exponent, no NaN)
            if len(text) <= MAX_NUMBER_LENGTH and not text.strip(_NUMBER_CHARS):
                try:
                    value = Decimal(text)
                except InvalidOperation:  # '-', '.', '1.2.3', '1-', ...
                    value = None
            if value is None:
                raise _Reject("bad_amount", f"{name} of {self._where(k)} is not a valid number.", k)
            self.numbers[text] = value
        return value

    def required(self, text: str, name: str, k: int) -> Decimal:
        value = self.numbers.get(text) or self.number(text, name, k)
        if value is None:
            raise self._empty(name, k)
        return value

    def date(self, text: str) -> dt.date | None:
        """CCYYMMDD as a date, None when invalid."""
        value = self.dates.get(text, _UNSEEN)
        if value is _UNSEEN:
            value = None
            if _DATE.fullmatch(text):
                try:
                    value = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
                except ValueError:
                    value = None
            self.dates[text] = value
        return value  # type: ignore[return-value]

    def composite(self, text: str) -> str:
        """A composite with its components joined by ':' whatever the file's separator."""
        return text.replace(self.component, ":") if self.component != ":" else text

    def _where(self, k: int) -> str:
        return f"{self._row(k)[0]} at segment {self.region.number(k)}"

    def _row(self, k: int) -> list[str]:
        return self.region.texts[k].split(self.element)

    def _need(self, row: list[str], count: int, k: int, what: str) -> None:
        if len(row) - 1 < count:
            raise _Reject(
                "malformed_segment",
                f"{self._where(k)} has {len(row) - 1} elements; {what} needs at least {count}.",
                k,
            )

    def _too_many(self, limit: int, what: str, setting: str, k: int) -> _Reject:
        message = (
            f"The transaction set at segment {self.region.number(self.st)} holds more than {limit:,} {what}, "
            f"the limit of one set (TAKEBACK_MAX_SET_{setting}); {self._where(k)} is past it. It was not read."
        )
        return _Reject("set_too_large", message, k)

    def _malformed(self, message: str, k: int) -> _Reject:
        return _Reject("malformed_segment", message, k)

    def _empty(self, name: str, k: int) -> _Reject:
        return _Reject("malformed_segment", f"{name} of {self._where(k)} is empty.", k)

    def _claim_flag(self, flag: str) -> None:
        if self.claim is not None and flag not in self.claim["flags"]:
            self.claim["flags"].append(flag)

    # ---- header segments

    def on_bpr(self, row: list[str], k: int) -> None:
        if self.payment is not None:
            raise self._malformed(f"A second payment segment {self._where(k)}.", k)
        self._need(row, 2, k, "a payment (BPR01 handling code, BPR02 amount)")
        if not row[1]:
            raise self._empty("BPR01 (handling code)", k)
        amount = self.required(row[2], "BPR02 (payment amount)", k)
        effective = None
        if _element(row, 16):
            effective = self.date(row[16])
            if effective is None:
                raise _Reject(
                    "bad_date",
                    f"BPR16 (payment effective date) of {self._where(k)} is not a valid date.",
                    k,
                )
        self.bpr_index = k
        self.payment = build(
            Payment,
            {
                "handling_code": row[1],
                "amount": amount,
                "credit_debit": _optional(row, 3) or "C",
                "method": _optional(row, 4),
                "effective_date": effective,
            },
        )

    def on_trn(self, row: list[str], k: int) -> None:
        if self.trace is not None:
            return  # one TRN per 835; a repeat is ignored
        self._need(row, 2, k, "a trace (TRN02 check or EFT number)")
        if not row[2]:
            raise self._empty("TRN02 (trace number)", k)
        self.trace = (row[2], _optional(row, 3))
        self.trn_index = k

    def on_n1(self, row: list[str], k: int) -> None:
        qualifier = _element(row, 1)
        if qualifier not in ("PR", "PE"):
            return
        who = "payer" if qualifier == "PR" else "payee"
        if self.phase != "header":
            raise _Reject(
                "malformed_segment",
                f"The {who} segment {self._where(k)} comes after the claims; an 835 names its payer "
                "and payee once, before the claims.",
                k,
            )
        if (self.payer_n1 if qualifier == "PR" else self.payee_n1) is not None:
            raise self._malformed(f"A second {who} segment {self._where(k)} in one transaction set.", k)
        if qualifier == "PR":
            self.payer_n1 = row
        else:
            self.payee_n1 = (row, k)

    def on_n4(self, row: list[str], k: int) -> None:
        """Rules §11: the payee's state (N402 of its N1*PE loop) is where its look-back limit comes from; the
        payer's N4 (before N1*PE) and any later one are not the payee's."""
        if self.phase == "header" and self.payee_n1 is not None and self.payee_state is None:
            self.payee_state = (_optional(row, 2) or "").upper() or None

    def _production_date(self, row: list[str], k: int) -> None:
        self._need(row, 2, k, "a date")
        self.production_date = self.date(row[2])
        if self.production_date is None:
            raise _Reject(
                "bad_date",
                f"DTM*405 (production date) at segment {self.region.number(k)} is not a valid date.",
                k,
            )

    def _header_ref(self, row: list[str]) -> None:
        qualifier = _element(row, 1)
        if qualifier == "2U" and self.ref_2u is None:
            self.ref_2u = _optional(row, 2)
        elif qualifier == "TJ" and self.ref_tj is None:
            self.ref_tj = _optional(row, 2)

    # ---- segments of a claim or a line (the hot path: kept lean)

    def on_dtm(self, row: list[str], k: int) -> None:
        target = self.target
        if target is None:
            if self.phase == "header" and _element(row, 1) == "405":
                self._production_date(row, k)
            return  # other header dates and dates after the claims are not needed
        if len(row) < 3:
            self._need(row, 2, k, "a date (DTM01 qualifier, DTM02 date)")
        value = self.dates.get(row[2]) or self.date(row[2])
        if value is None:
            self._claim_flag("bad_date")
        target["dates"].append(build_date_ref({"qualifier": row[1], "date": value}))

    def on_ref(self, row: list[str], k: int) -> None:
        target = self.target
        if target is None:
            if self.phase == "header":
                self._header_ref(row)
            return
        if len(row) < 3:
            self._need(row, 2, k, "a reference (REF01 qualifier, REF02 value)")
        target["references"].append(build_reference({"qualifier": row[1], "value": row[2]}))

    def on_amt(self, row: list[str], k: int) -> None:
        target = self.target
        if target is None:
            return
        if len(row) < 3:
            self._need(row, 2, k, "an amount (AMT01 qualifier, AMT02 amount)")
        amount = self.required(row[2], "AMT02 (amount)", k)
        target["amounts"].append(build_amount_ref({"qualifier": row[1], "amount": amount}))

    def on_cas(self, row: list[str], k: int) -> None:
        target = self.target
        if target is None:
            return  # CAS outside a claim has nothing to adjust
        size = len(row)
        if size < 4:
            self._need(row, 3, k, "an adjustment (CAS01 group, CAS02 reason, CAS03 amount)")
        self.adjustment_count += size // 3  # its reason/amount/quantity triplets, the last one maybe partial
        if self.adjustment_count > self.limits.adjustments:
            raise self._too_many(self.limits.adjustments, "adjustments (CAS and PLB)", "ADJUSTMENTS", k)
        numbers = self.numbers
        adjustments = target["adjustments"]
        group = row[1]
        if size == 4 and row[2]:  # the common case: one reason and amount, no quantity
            amount = numbers.get(row[3]) or self.number(row[3], "CAS03 (adjustment amount)", k)
            if amount is not None:
                values = {"group": group, "reason": row[2], "amount": amount, "quantity": None}
                adjustments.append(build_adjustment(values))
                self.claim_cas += amount
                if self.line is not None:
                    self.line_cas += amount
                return
        total = ZERO
        for i in CAS_TRIPLETS:  # up to 6 reason/amount/quantity triplets
            if i >= size:
                break
            reason = row[i]
            text = row[i + 1] if i + 1 < size else ""
            amount = numbers.get(text) or self.number(text, CAS_NAMES[i + 1], k)
            if not reason or amount is None:
                if not reason and amount is None:
                    continue  # an empty triplet
                raise _Reject(
                    "malformed_segment",
                    f"{self._where(k)} has a reason code and an amount that do not pair up.",
                    k,
                )
            quantity = self.number(row[i + 2], CAS_NAMES[i + 2], k) if i + 2 < size else None
            values = {"group": group, "reason": reason, "amount": amount, "quantity": quantity}
            adjustments.append(build_adjustment(values))
            total += amount
        self.claim_cas += total
        if self.line is not None:
            self.line_cas += total

    def on_lx(self, row: list[str], k: int) -> None:
        self._close_claim()
        self.phase = "claims"

    def on_clp(self, row: list[str], k: int) -> None:
        self._close_claim()
        self.phase = "claims"
        if len(self.claims) >= self.limits.claims:
            raise self._too_many(self.limits.claims, "claims (CLP)", "CLAIMS", k)
        size = len(row)
        if size < 5:
            self._need(row, 4, k, "an 835 claim (CLP01 to CLP04)")
        if not row[1] or not row[2]:
            raise _Reject(
                "malformed_segment",
                f"Claim segment {self._where(k)} has an empty claim id or status code.",
                k,
            )
        numbers = self.numbers
        charge = numbers.get(row[3]) or self.number(row[3], "CLP03 (claim charge)", k)
        payment = numbers.get(row[4]) or self.number(row[4], "CLP04 (claim payment)", k)
        self.claim = self.target = {
            "claim_id": row[1],
            "status_code": row[2],
            "total_charge": ZERO if charge is None else charge,
            "payment": ZERO if payment is None else payment,
            "patient_responsibility": (
                self.number(row[5], "CLP05 (patient responsibility)", k) if size > 5 and row[5] else None
            ),
            "filing_indicator": (row[6] or None) if size > 6 else None,
            "payer_claim_control_number": (row[7] or None) if size > 7 else None,
            "facility_code": (row[8] or None) if size > 8 else None,
            "frequency_code": (row[9] or None) if size > 9 else None,
            "adjustments": [],
            "references": [],
            "dates": [],
            "amounts": [],
            "remark_codes": [],
            "service_lines": [],
            "patient": None,
            # a required amount sent empty counts as 0 (balancing still checks it) and is flagged
            "flags": [] if charge is not None and payment is not None else ["missing_amount"],
        }
        self.claim_cas = ZERO

    def on_nm1(self, row: list[str], k: int) -> None:
        claim = self.claim
        if claim is None or not self.patients or _element(row, 1) != "QC" or claim["patient"] is not None:
            return
        claim["patient"] = build(
            Patient,
            {"last_name": _optional(row, 3), "first_name": _optional(row, 4), "member_id": _optional(row, 9)},
        )

    def on_mia(self, row: list[str], k: int) -> None:
        if self.claim is not None:
            self.claim["remark_codes"].extend(row[i] for i in MIA_REMARKS if i < len(row) and row[i])

    def on_moa(self, row: list[str], k: int) -> None:
        if self.claim is not None:
            self.claim["remark_codes"].extend(row[i] for i in MOA_REMARKS if i < len(row) and row[i])

    def on_svc(self, row: list[str], k: int) -> None:
        claim = self.claim
        if claim is None:
            raise self._malformed(f"Service line {self._where(k)} is not inside a claim (CLP).", k)
        if self.line is not None:
            self._close_line()
        size = len(row)
        if size < 4:
            self._need(row, 3, k, "a service line (SVC01 to SVC03)")
        if not row[1]:
            raise self._empty("SVC01 (procedure)", k)
        numbers = self.numbers
        charge = numbers.get(row[2]) or self.number(row[2], "SVC02 (line charge)", k)
        payment = numbers.get(row[3]) or self.number(row[3], "SVC03 (line payment)", k)
        if charge is None or payment is None:
            self._claim_flag("missing_amount")
        self.line = self.target = line = {
            "procedure": row[1] if self.component == ":" else self.composite(row[1]),
            "charge": ZERO if charge is None else charge,
            "payment": ZERO if payment is None else payment,
            "revenue_code": (row[4] or None) if size > 4 else None,
            "units": (numbers.get(row[5]) or self.number(row[5], "SVC05 (units)", k)) if size > 5 else None,
            "adjustments": [],
            "references": [],
            "dates": [],
            "amounts": [],
            "remark_codes": [],
        }
        claim["service_lines"].append(build_service_line(line))
        self.line_cas = ZERO

    def on_lq(self, row: list[str], k: int) -> None:
        if self.line is not None and _element(row, 1) == "HE" and _element(row, 2):
            self.line["remark_codes"].append(row[2])

    def _close_line(self) -> None:
        line = self.line
        if line is not None and line["charge"] - line["payment"] != self.line_cas:
            self._claim_flag("line_unbalanced")
        self.line = None
        self.target = self.claim

    def _close_claim(self) -> None:
        if self.line is not None:
            self._close_line()
        claim = self.claim
        if claim is None:
            return
        if claim["total_charge"] - claim["payment"] != self.claim_cas:
            self._claim_flag("claim_unbalanced")
        self.claims.append(build_claim_payment(claim))
        self.claim = self.target = None

    # ---- provider adjustments

    def on_plb(self, row: list[str], k: int) -> None:
        self._close_claim()
        self.phase = "trailer"
        self._need(row, 4, k, "a provider adjustment (PLB01 to PLB04)")
        if not row[1]:
            raise self._empty("PLB01 (provider)", k)
        period = self.date(row[2]) if row[2] else None
        if row[2] and period is None and "bad_date" not in self.flags:
            self.flags.append("bad_date")  # PLB02 is informational: keep the adjustments
        size = len(row)
        self.adjustment_count += (size - 2) // 2  # its reason/amount pairs
        if self.adjustment_count > self.limits.adjustments:
            raise self._too_many(self.limits.adjustments, "adjustments (CAS and PLB)", "ADJUSTMENTS", k)
        for i in PLB_PAIRS:
            if i >= size:
                break
            amount = self.number(row[i + 1], PLB_NAMES[i + 1], k) if i + 1 < size else None
            if not row[i] or amount is None:
                if not row[i] and amount is None:
                    continue
                raise _Reject(
                    "malformed_segment",
                    f"{self._where(k)} has a reason code and an amount that do not pair up.",
                    k,
                )
            reason, _, rest = self.composite(row[i]).partition(":")
            self.plb.append(
                build(
                    ProviderAdjustment,
                    {
                        "provider_id": row[1],
                        "fiscal_period_date": period,
                        "reason_code": reason,
                        "reference": rest.split(":", 1)[0] or None,
                        "amount": amount,
                    },
                )
            )

    # ---- the remittance

    def _remittance(self) -> Remittance:
        payment, trace, payee = self._require_header()
        self._check_balance(payment)
        if payment.amount == ZERO and not zero_payment_allowed(payment.handling_code):
            self.flags.append("zero_payment_not_h_or_p")
        if payment_not_moved(payment.handling_code, payment.amount):
            self.flags.append("payment_not_moved")  # rules §7: applied; its BPR02 goes to not_moved, not cash
        self._check_segment_count()
        hashed = body_hash(self.region.texts[self.st + 1 : self.se], self.region.delimiters)
        payer = self._payer()
        region, st = self.region, self.st
        source = build(
            SourceRef,
            {
                "file": self.reader.file,
                "source_id": self.reader.source_id,
                "byte_offset": region.offset(st),
                "segment_number": region.number(st),
                "segment_tag": "ST",
                "line": None,
                "topic": None,
                "partition": None,
                "offset": None,
            },
        )
        return build(
            Remittance,
            {
                "remittance_id": remittance_id(payer.id, trace, payee.id, payment, hashed),
                "body_hash": hashed,
                "source": source,
                "sequence": 0,
                "x12_version": self.reader.version(self._row(self.st)),
                "payer": payer,
                "payee": payee,
                "payment": payment,
                "trace_number": trace,
                "production_date": self.production_date,
                "generated_at": self.reader.gs_time,
                "interchange_generated_at": self.reader.isa_time,
                "claims": self.claims,
                "provider_adjustments": self.plb,
                "flags": self.flags,
                "published_at": None,
            },
        )

    def _require_header(self) -> tuple[Payment, str, Payee]:
        where = f"The transaction set at segment {self.region.number(self.st)}"
        if self.payment is None:
            raise _Reject("missing_segment", f"{where} has no payment segment (BPR).", self.st)
        if self.trace is None:
            raise _Reject(
                "missing_segment",
                f"{where} has no trace segment (TRN) with the check or EFT number.",
                self.st,
            )
        if self.payee_n1 is None:
            raise _Reject("missing_segment", f"{where} has no payee segment (N1*PE).", self.st)
        row, k = self.payee_n1
        payee_id = _optional(row, 4) or self.ref_tj
        if payee_id is None:
            raise _Reject(
                "missing_payee_id",
                f"The payee segment {self._where(k)} has no id (N104) and there is no REF*TJ.",
                k,
            )
        payee = build(
            Payee,
            {
                "id": payee_id,
                "id_qualifier": _optional(row, 3) if _optional(row, 4) else None,
                "name": _optional(row, 2),
                "tin": self.ref_tj,
                "state": self.payee_state,
            },
        )
        return self.payment, self.trace[0], payee

    def _payer(self) -> Payer:
        n1 = self.payer_n1 or []
        payer_id = self.trace[1] if self.trace else None
        payer_id = payer_id or _optional(n1, 4) or self.ref_2u or _optional(n1, 2)
        if payer_id is None:
            raise _Reject(
                "missing_segment",
                "The payer is not identified: no TRN03, no N1*PR with an id or name, no REF*2U.",
                self.trn_index,
            )
        return build(Payer, {"id": payer_id, "name": _optional(n1, 2)})

    def _check_balance(self, payment: Payment) -> None:
        """Rules §7: BPR02 = sum(CLP04) - sum(PLB04), to the cent; BPR02 is never negative."""
        k = self.bpr_index
        if payment.amount < ZERO:
            raise _Reject(
                "negative_payment",
                f"The payment total BPR02 ({_fmt(payment.amount)}) of {self._where(k)} is negative; "
                "an 835 payment is never negative (takebacks larger than payments are carried as PLB FB).",
                k,
            )
        claims = sum((c.payment for c in self.claims), ZERO)
        adjustments = sum((p.amount for p in self.plb), ZERO)
        expected = claims - adjustments
        signed = signed_amount(payment.amount, payment.credit_debit)
        if signed != expected and self.reader.accepting:
            self.flags.append("accepted_unbalanced")  # rules §7: a person accepted it; facts book the difference
        elif signed != expected:
            raise _Reject(
                "unbalanced_remittance",
                f"The payment total BPR02 ({_fmt(payment.amount)}) does not equal the claim payments "
                f"({_fmt(claims)}) minus provider adjustments ({_fmt(adjustments)}) = {_fmt(expected)}; "
                f"difference {_fmt(signed - expected)}.",
                k,
            )

    def _check_segment_count(self) -> None:
        """SE01 counts ST to SE; senders often get it wrong, so a mismatch is a flag, not a rejection."""
        declared = _element(self._row(self.se), 1)
        if declared != str(self.se - self.st + 1):
            self.flags.append("segment_count_mismatch")


_HANDLERS = {
    "BPR": _SetReader.on_bpr,
    "TRN": _SetReader.on_trn,
    "N1": _SetReader.on_n1,
    "N4": _SetReader.on_n4,
    "DTM": _SetReader.on_dtm,
    "REF": _SetReader.on_ref,
    "LX": _SetReader.on_lx,
    "CLP": _SetReader.on_clp,
    "CAS": _SetReader.on_cas,
    "NM1": _SetReader.on_nm1,
    "MIA": _SetReader.on_mia,
    "MOA": _SetReader.on_moa,
    "AMT": _SetReader.on_amt,
    "SVC": _SetReader.on_svc,
    "LQ": _SetReader.on_lq,
    "PLB": _SetReader.on_plb,
}
_HANDLERS_WITHOUT_PATIENTS = {tag: handler for tag, handler in _HANDLERS.items() if tag != "NM1"}
