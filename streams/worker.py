"""The `takeback worker` process: faust's Worker, with a bound on how long it takes to stop.

On SIGTERM or Ctrl-C faust stops gracefully (agents finish, offsets commit, the worker leaves its group), but with
its broker gone that stop waits on the Kafka client for ever. So the first stop request also arms an
`ExitDeadline` (`TAKEBACK_STOP_GRACE_SECONDS`): the graceful stop still commits when it can, and a stuck one ends
the process when the grace runs out.
"""

from __future__ import annotations

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


class Worker(faust.Worker):
    def __init__(self, app: faust.App, *, stop_grace: float, **options: Any) -> None:
        self._stop_deadline = ExitDeadline(stop_grace, "takeback worker")
        super().__init__(app, **options)

    def _schedule_shutdown(self, sig: signal.Signals) -> None:
        self._stop_deadline.arm(sig.name)
        super()._schedule_shutdown(sig)

    def on_worker_shutdown(self) -> None:
        # every way out of the run (a crash, an exception) stops the app next, which can hang the same way
        self._stop_deadline.arm("shutdown")
        super().on_worker_shutdown()
