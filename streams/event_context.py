"""Events in batches, and table reads and writes made for a given event's partition outside faust's iteration.

Faust routes a table read or write by the *current event*: the record goes to that event's partition (a RocksDB
store reads that partition's database). It sets the current event only while a stream yields it, so an agent that
takes events in batches and writes after its loop names the event whose partition it means.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import faust
from faust import streams as faust_streams

from streams.settings import Settings


@contextlib.contextmanager
def as_current_event(event: faust.EventT) -> Iterator[None]:
    """Within the block, faust's tables act as if `event` were being processed (faust has no public setter)."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


async def event_batches(stream: Any, settings: Settings) -> AsyncIterator[list[faust.EventT]]:
    """A stream's events in batches of up to `match_batch_size` (waiting at most `match_batch_wait`).

    Faust's cost is per message and per table write: an agent that handles a batch at once reads and writes each
    key once, however many of the batch's messages touched it. A size of 1 gives each event alone.
    """
    if settings.match_batch_size > 1:
        async for events in stream.take_events(settings.match_batch_size, within=settings.match_batch_wait):
            yield events
    else:
        async for event in stream.events():
            yield [event]
