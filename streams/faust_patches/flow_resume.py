"""Patch: resuming flow that is already running keeps the events waiting in the agents' queues.

faust's flow control (`app.flow_control`, mode's FlowControlEvent) empties every agent's queue when it is resumed.
That is right after a suspension (a rebalance): those events were read before it, the consumer is sought back to
the committed offsets and reads them again. It loses events when flow is already running. After a rebalance,
faust's `Recovery.on_recovery_completed` resumes the stream partitions and awaits their seek to the committed
offsets *before* it resumes flow, and flow has been running since the changelogs were read: an event fetched in
between lands in its agent's queue, `resume()` empties the queue, and the consumer, already past it, never reads
it again (its offset is never committed either: the next worker to own the partition does). Seen as a restarted
worker that never ingested an ERA waiting on era.raw, and as one whose cash agent never published the net-cash
row of a share the match agent had just sent (tests/test_table_state.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.tables.recovery import Recovery
from mode.utils.queues import FlowControlEvent

from streams.faust_patches.guard import expected_method, expected_source_mentions

PATCH = "keep queued events when flow is resumed while running"


def install() -> None:
    original = check()

    def resume(self: Any) -> None:
        if self.is_active():
            return  # not suspended: the queues hold events the consumer has moved past, not stale ones
        original(self)

    FlowControlEvent._takeback_original_resume = original
    FlowControlEvent.resume = resume


def check(event: type = FlowControlEvent, recovery: type = Recovery) -> Callable[..., Any]:
    """mode's `resume(self)` empties the managed queues (`self.clear()`) and `is_active()` says whether flow runs;
    faust's recovery resumes flow at its end, after the stream partitions were resumed and sought.

    Once installed, mode's method (checked then) is kept aside and is what this returns."""
    installed = getattr(event, "_takeback_original_resume", None)
    if installed is not None:
        return installed
    method = expected_method(event, "resume", ("self",), coroutine=False, patch=PATCH)
    expected_source_mentions(event, "resume", "self.clear()", patch=PATCH)
    expected_method(event, "is_active", ("self",), coroutine=False, patch=PATCH)
    expected_source_mentions(recovery, "on_recovery_completed", "self.app.flow_control.resume()", patch=PATCH)
    return method
