"""What the ingest agent makes of one era.raw message: remittances, dead letters and the reader's notices.

An input is an 835 file, or a piece of one (headers give its place in the file), or a Remittance as JSON (rules §1).
Plain Python over the message's bytes and headers, so it is tested without a broker.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import ValidationError

from schemas import DeadLetter, Receipt, Remittance, SourceRef
from streams.dead_letters import EXCERPT_BYTES, dead_letter
from streams.domain.disbursement import takeback_date
from streams.domain.x12 import ReaderLimits, read_835
from streams.kafka_io import ACCEPT_HEADER, CHUNK_HEADER, OVERSIZE_HEADER, SOURCE_FILE_HEADER, SOURCE_ID_HEADER
from streams.reader_notices import describe_counts, notice_counts
from streams.settings import Settings

Headers = dict[str, bytes] | Iterable[tuple[str, bytes]] | None
STAGE = "ingest"
TOO_LARGE_EXCERPT_BYTES = 4096
# A dead letter holds its input whole (for `dead-letters replay`), which may be up to TAKEBACK_MAX_INPUT_BYTES: the
# producer takes a MiB more than that (streams/app.py); half of it is left for the rest of the event and its headers.
DEAD_LETTER_HEADROOM = 512 * 1024


@dataclass
class IngestedInput:
    source_id: str
    file: str | None
    remittances: list[Remittance] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)  # each remittance as published (compact JSON)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # the reader's; never patient data

    @property
    def notice_counts(self) -> Counter[str]:
        return notice_counts(self.notices)

    @property
    def latest_date(self) -> dt.date | None:
        """The latest date the input shows (its remittances' production dates): stream time for reassociation."""
        dates = (takeback_date(r.production_date, r.payment.effective_date) for r in self.remittances)
        return max((d for d in dates if d is not None), default=None)

    def receipt(self) -> Receipt:
        return Receipt(
            stage="ingested",
            source_id=self.source_id,
            file=self.file,
            remittances=len(self.remittances),
            dead_letters=len(self.dead_letters),
        )

    def summary(self) -> str:
        """One log line: counts and notice codes, no file name and no patient data."""
        line = f"ingested {self.source_id}: {len(self.remittances)} remittances, {len(self.dead_letters)} dead letters"
        counts = self.notice_counts
        return f"{line}, notices: {describe_counts(counts)}" if counts else line


def ingest_input(
    data: bytes,
    headers: Headers,
    *,
    topic: str,
    partition: int,
    offset: int,
    published_at: float | None,
    settings: Settings,
) -> IngestedInput:
    """Read one era.raw message; its remittances carry their sequence in the input and its publication time."""
    source_id = header(headers, SOURCE_ID_HEADER) or f"{partition}:{offset}"
    file = header(headers, SOURCE_FILE_HEADER)
    where = SourceRef(file=file, source_id=source_id, topic=topic, partition=partition, offset=offset)
    chunk = header(headers, CHUNK_HEADER)
    oversize = header(headers, OVERSIZE_HEADER)
    result = IngestedInput(source_id=source_id, file=file)
    if oversize:
        result.dead_letters = [_oversize_dead_letter(data, int(oversize), chunk, where)]
    else:
        accepted = header(headers, ACCEPT_HEADER)  # rules §7: set by `dead-letters replay --accept` only
        _read_input(data, where, settings, result, accepted)
        if chunk:
            result.dead_letters = [_in_file_coordinates(d, chunk) for d in result.dead_letters]
    for sequence, remittance in enumerate(result.remittances):
        remittance.sequence = sequence
        remittance.published_at = published_at
    _fit_messages(result, data, where, chunk, settings.max_input_bytes)
    return result


def encode_remittance(remittance: Remittance) -> bytes:
    """A remittance as it goes on the remittances topic: fields at their default left out (documented in the
    schema), which makes it smaller and faster to decode downstream."""
    return remittance.model_dump_json(exclude_defaults=True).encode()


def _fit_messages(result: IngestedInput, data: bytes, where: SourceRef, chunk: str | None, limit: int) -> None:
    """Every event of the input fits one message (``limit``: the producer takes a little more, for key and headers).

    A remittance event larger than that cannot be published: the producer refuses it, which crashed the ingest agent
    and stalled its partition. It becomes a dead letter instead. A dead letter's raw input is cut to an excerpt
    when escaping makes it too large (control characters take six bytes each in JSON)."""
    kept: list[Remittance] = []
    for remittance in result.remittances:
        payload = encode_remittance(remittance)
        if len(payload) <= limit:
            kept.append(remittance)
            result.payloads.append(payload)
            continue
        source = remittance.source
        at = source.byte_offset or 0
        dead = where.model_copy(
            update={"byte_offset": at, "segment_number": source.segment_number, "segment_tag": "ST"}
        )
        message = (
            f"The transaction set at segment {source.segment_number} makes a remittance event of {len(payload):,} "
            f"bytes, larger than one message (TAKEBACK_MAX_INPUT_BYTES, {limit:,}); it was not applied. "
            "Its first 64 KiB are kept here."
        )
        letter = dead_letter(STAGE, "set_too_large", message, dead, data[at : at + EXCERPT_BYTES])
        result.dead_letters.append(_in_file_coordinates(letter, chunk) if chunk else letter)
    result.remittances = kept
    room = limit + DEAD_LETTER_HEADROOM
    excerpt = min(EXCERPT_BYTES, room // 8)  # at most six bytes of JSON a character, and room for the rest
    for index, letter in enumerate(result.dead_letters):
        if letter.raw is not None and len(letter.raw) * 6 > room and len(letter.model_dump_json()) > room:
            result.dead_letters[index] = letter.model_copy(update={"raw": letter.raw[:excerpt]})


def header(headers: Headers, name: str) -> str | None:
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    for key, value in items:
        if key == name:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def _read_input(
    data: bytes, where: SourceRef, settings: Settings, result: IngestedInput, accepted: str | None = None
) -> None:
    if len(data) > settings.max_input_bytes:
        message = f"The input is {len(data):,} bytes; the limit is {settings.max_input_bytes:,} bytes."
        result.dead_letters = [
            dead_letter(STAGE, "input_too_large", message, where, data, limit=TOO_LARGE_EXCERPT_BYTES)
        ]
    elif data.lstrip()[:1] == b"{":
        try:
            remittance = Remittance.model_validate_json(data)
        except ValidationError as exc:
            message = f"The remittance event does not match the schema ({exc.error_count()} errors)."
            result.dead_letters = [dead_letter(STAGE, "invalid_event", message, where, data)]
            return
        if "accepted_unbalanced" in remittance.flags and accepted is None:
            message = (
                "The remittance event says it was accepted unbalanced, but only `takeback dead-letters replay "
                "--accept` can accept one (rules §7); it was not applied."
            )
            result.dead_letters = [dead_letter(STAGE, "invalid_event", message, where, data)]
            return
        update = {"source_id": where.source_id, "file": where.file}
        remittance.source = remittance.source.model_copy(update=update)
        result.remittances = [remittance]
    else:
        read = read_835(
            data,
            file=where.file,
            source_id=where.source_id,
            include_patient_data=settings.include_patient_data,
            accepted_dead_letter=accepted,
            limits=reader_limits(settings),
        )
        result.remittances, result.dead_letters, result.notices = read.remittances, read.dead_letters, read.notices


def reader_limits(settings: Settings) -> ReaderLimits:
    return ReaderLimits(settings.max_set_segments, settings.max_set_claims, settings.max_set_adjustments)


def _chunk_position(chunk: str) -> tuple[int, int]:
    file_offset, header_length = chunk.split(":")
    return int(file_offset), int(header_length)


def _in_file_coordinates(dead: DeadLetter, chunk: str) -> DeadLetter:
    """Byte offsets of a dead letter from a piece of a split file, as offsets in the whole file."""
    file_offset, header_length = _chunk_position(chunk)
    offset = dead.source.byte_offset
    if offset is None or offset < header_length:
        return dead
    source = dead.source.model_copy(update={"byte_offset": offset - header_length + file_offset})
    return dead.model_copy(update={"source": source})


def _oversize_dead_letter(excerpt: bytes, size: int, chunk: str | None, where: SourceRef) -> DeadLetter:
    file_offset, _ = _chunk_position(chunk) if chunk else (0, 0)
    where = where.model_copy(update={"byte_offset": file_offset, "segment_tag": "ST"})
    message = (
        f"The transaction set at byte {file_offset:,} is {size:,} bytes, larger than the limit of one input "
        "(TAKEBACK_MAX_INPUT_BYTES); it was not read. Its first 64 KiB are kept here."
    )
    return dead_letter(STAGE, "input_too_large", message, where, excerpt)
