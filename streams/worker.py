"""The `takeback worker` process: faust's Worker, with a bound on how long it takes to stop.

On SIGTERM or Ctrl-C faust stops gracefully (agents finish, offsets commit, the worker leaves its group), but with
its broker gone that stop waits on the Kafka client for ever. So the first stop request also arms an
`ExitDeadline` (`TAKEBACK_STOP_GRACE_SECONDS`): the graceful stop still commits when it can, and a stuck one ends
the process when the grace runs out.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import faust
from mode import Worker as ModeWorker

from streams.processes import ExitDeadline

# mode.Worker's private hook that both its SIGINT and SIGTERM handlers call; checked here so that a mode upgrade
# that renames it fails on start, not by a worker that cannot be stopped.
_SCHEDULE_SHUTDOWN = "_schedule_shutdown"
if not callable(getattr(ModeWorker, _SCHEDULE_SHUTDOWN, None)):
    raise ImportError(f"mode.Worker has no {_SCHEDULE_SHUTDOWN}(): streams/worker.py must follow the new mode")
# mode's last pass over the event loop before closing it, a fixed 1 s sleep: shortened below.
_SENTINEL = "_sentinel_task"
if not callable(getattr(ModeWorker, _SENTINEL, None)):
    raise ImportError(f"mode.Worker has no {_SENTINEL}(): streams/worker.py must follow the new mode")

# Long enough for the callbacks the stop scheduled to run once more; everything that commits or leaves the group
# has finished before mode gets here.
FINAL_LOOP_PASS_SECONDS = 0.05


class Worker(faust.Worker):
    def __init__(self, app: faust.App, *, stop_grace: float, **options: Any) -> None:
        self._stop_deadline = ExitDeadline(stop_grace, "takeback worker")
        super().__init__(app, **options)

    def _schedule_shutdown(self, sig: signal.Signals) -> None:
        self._stop_deadline.arm(sig.name)
        super()._schedule_shutdown(sig)

    async def _sentinel_task(self) -> None:
        # mode sleeps 1 s here after the app has stopped: every worker stop (and so every `replay`) waited for it
        await asyncio.sleep(FINAL_LOOP_PASS_SECONDS)

    def on_worker_shutdown(self) -> None:
        # every way out of the run (a crash, an exception) stops the app next, which can hang the same way
        self._stop_deadline.arm("shutdown")
        super().on_worker_shutdown()
