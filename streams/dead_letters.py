"""Dead letters made by the agents (the reader makes its own): an id that is the same every time, and an excerpt."""

from __future__ import annotations

import hashlib

from schemas import DeadLetter, SourceRef

EXCERPT_BYTES = 64 * 1024


def dead_letter(
    stage: str, code: str, message: str, source: SourceRef, raw: bytes | None, limit: int = EXCERPT_BYTES
) -> DeadLetter:
    """A dead letter whose id depends only on where the input was and why it failed, so a re-delivery repeats it."""
    key = f"{source.source_id}|{source.topic}|{source.partition}|{source.offset}|{code}"
    return DeadLetter(
        dead_letter_id=hashlib.sha256(key.encode()).hexdigest()[:32],
        stage=stage,
        error_code=code,
        message=message,
        source=source,
        raw=raw[:limit].decode("latin-1") if raw is not None else None,
    )
