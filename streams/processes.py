"""Child processes that never outlive their parent, and the one way to stop them.

The demo, `replay`, `takeback broker`, the benchmark and the test fixtures start an embedded broker (Tansu) and
worker processes. None of them may be left behind, however the parent ends:

* SIGTERM stops a command the way Ctrl-C does (`stop_like_ctrl_c`): both raise `Interrupted` in the main thread,
  so the `with` blocks that own the children stop them on the way out, and the command exits 128 + the signal
  number (130 for Ctrl-C, 143 for SIGTERM).
* A child dies with its parent even when the parent is killed with SIGKILL (`spawn_child`): on Linux the kernel
  sends it a death signal (PR_SET_PDEATHSIG) when its parent goes.
* `stop_child` stops one: a stop signal, a grace period, then SIGKILL.
* A process whose own graceful stop can hang (a worker whose broker is gone) bounds it with `ExitDeadline`.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, NoReturn

EXIT_STOP_TIMED_OUT = 1
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: the command stops its children and exits with 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def reason(self) -> str:
        return "interrupted" if self.signum == signal.SIGINT else f"stopped by {signal.Signals(self.signum).name}"


_stopping = False


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    global _stopping
    if _stopping:
        return  # a stop is under way and bounded; a second signal must not cut it short and leave children behind
    _stopping = True
    # the client tasks this cuts short are dropped on purpose: no "Task was destroyed but it is pending!" on exit
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    raise Interrupted(signum)


def stop_like_ctrl_c(signals: Sequence[int] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """Make these signals raise `Interrupted` in the main thread (call from it), once; later ones are ignored.

    Without this, SIGTERM (from `timeout`, `kill`, a supervisor) ends Python at once, before any `finally`.
    """
    for signum in signals:
        signal.signal(signum, _raise_interrupted)


def exit_interrupted(stop: Interrupted, who: str) -> NoReturn:
    """After an `Interrupted` has unwound (the children are stopped): one line on stderr, and exit at once.

    The client work it cut short (tasks still pending, coroutines never awaited) would only make the interpreter's
    teardown print warnings after that line.
    """
    print(f"{who}: {stop.reason}", file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(stop.exit_code)


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


# Looked up once, here: between fork and exec the child should only call it, not load libraries.
_prctl = _load_prctl()


def _die_with_parent(death_signal: int) -> Callable[[], None] | None:
    if _prctl is None:
        return None  # not Linux: no death signal, the parent's signal handling is all there is
    prctl, parent = _prctl, os.getpid()

    def arm_death_signal() -> None:  # runs in the child, between fork and exec
        prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the death signal was armed
            os._exit(1)

    return arm_death_signal


def spawn_child(argv: Sequence[str], *, death_signal: int, **popen: Any) -> subprocess.Popen[bytes]:
    """Start a child that the kernel sends `death_signal` when this process dies (SIGKILL included).

    The kernel sends it when the *thread* that started the child exits, so start children from the main thread
    (from a pool thread, the child gets its death signal when the pool shuts down). The child gets its own session:
    Ctrl-C in a terminal reaches only the parent, which then stops its children in order.
    """
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(list(argv), start_new_session=True, preexec_fn=_die_with_parent(death_signal), **popen)


def stop_child(process: subprocess.Popen[bytes], *, grace: float, stop_signal: int = signal.SIGTERM) -> int:
    """Stop a child: `stop_signal`, up to `grace` seconds for it to exit, then SIGKILL. Returns its exit code.

    Ctrl-C or SIGTERM arriving meanwhile is held until the child is stopped, so it never leaves one behind.
    """
    try:
        return _stop(process, grace, stop_signal)
    except KeyboardInterrupt:
        _stop(process, grace, stop_signal)  # a process gets one Interrupted (later signals are ignored): not cut again
        raise


def _stop(process: subprocess.Popen[bytes], grace: float, stop_signal: int) -> int:
    if process.poll() is None and stop_signal != signal.SIGKILL:
        process.send_signal(stop_signal)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    if process.poll() is None:
        process.kill()
        process.wait()  # SIGKILL cannot be caught or ignored: this returns at once
    return process.returncode


class ExitDeadline:
    """Ends this process `grace` seconds after `arm`, if it has not ended by itself by then.

    For a graceful stop that can hang: it still finishes (and commits) when it can, and the process exits anyway
    when it cannot.
    """

    def __init__(self, grace: float, who: str) -> None:
        self.grace = grace
        self.who = who
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def arm(self, reason: str) -> None:
        with self._lock:
            if self._timer is not None:
                return
            self._timer = threading.Timer(self.grace, self._exit, (reason,))
            self._timer.daemon = True
            self._timer.start()

    def _exit(self, reason: str) -> None:
        line = f"{self.who}: still stopping {self.grace:g} s after {reason}; exiting now (TAKEBACK_STOP_GRACE_SECONDS)"
        # os.write, not print: the stuck main thread may hold sys.stderr's lock
        os.write(2, (line + "\n").encode())
        os._exit(EXIT_STOP_TIMED_OUT)
