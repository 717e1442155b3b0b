"""A restarted worker keeps the events fetched while faust ends table recovery (streams/faust_patches/flow_resume.py).

faust's `Recovery.on_recovery_completed` resumes the stream partitions, awaits their seek to the committed offsets,
then resumes flow, which empties the agents' queues. Flow has been running since the changelogs were read, so a
record fetched during the seek was queued for its agent and then thrown away, with the consumer already past it:
a restarted worker never published the net-cash row of a share the match agent had just sent. These tests take the
app's own flow control and the cash agent's own queue through those steps in that order, with no broker, so the
timing that lost the row happens every time.
"""

from __future__ import annotations

from streams.app import create_app
from streams.settings import Settings

SHARE = b'{"provider_id":"1000000038","revision":2}'


def test_a_share_queued_while_recovery_ends_stays_for_the_cash_agent() -> None:
    takeback = create_app(Settings())
    flow, queue = takeback.app.flow_control, takeback.topics.net_cash_shares.queue
    flow.resume()  # recovery resumes flow to read the changelogs
    queue.put_nowait(SHARE)  # the stream partitions are resumed; their seek is awaited; a share is fetched and queued
    flow.resume()  # the end of recovery resumes flow again
    assert queue.qsize() == 1 and queue.get_nowait() == SHARE


def test_events_queued_before_a_rebalance_are_still_dropped() -> None:
    # faust's reason to empty the queues: after a suspension they are read again from the committed offsets
    takeback = create_app(Settings())
    flow, queue = takeback.app.flow_control, takeback.topics.net_cash_shares.queue
    flow.resume()
    queue.put_nowait(SHARE)
    flow.suspend()  # a rebalance starts
    flow.resume()
    assert queue.qsize() == 0
