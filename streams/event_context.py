"""Table reads and writes made for a given event's partition, outside faust's per-event iteration.

Faust routes a table read or write by the *current event*: the record goes to that event's partition (a RocksDB
store reads that partition's database). It sets the current event only while a stream yields it, so an agent that
takes events in batches and writes after its loop names the event whose partition it means.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator

import faust
from faust import streams as faust_streams


@contextlib.contextmanager
def as_current_event(event: faust.EventT) -> Iterator[None]:
    """Within the block, faust's tables act as if `event` were being processed (faust has no public setter)."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)
