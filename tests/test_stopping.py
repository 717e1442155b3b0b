"""Stopping cleanly: no broker or worker outlives what started it, however that ends.

Real processes, no mocks: `takeback demo`, `replay` and `broker` are stopped with Ctrl-C, SIGTERM and SIGKILL, and
their children (by pid, recorded while they ran) must be gone within seconds; so must the broker of a pytest run
that gets SIGTERM or SIGKILL. A worker whose broker has died stops within its grace after SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streams.broker import EmbeddedBroker, free_port
from streams.kafka_io import ensure_topics
from streams.runner import WorkerProcess
from streams.samples import PROJECT_ROOT
from streams.settings import Settings

pytestmark = pytest.mark.broker

GRACE = 3.0  # TAKEBACK_STOP_GRACE_SECONDS here: a worker left without its broker goes this soon
SYNTHETIC = "synthetic_835_5010_plb_wo_fb_l6_72_j1_wu_reversals_denials.835"


# --------------------------------------------------------------------------- processes, by pid


def children(pid: int) -> dict[int, str]:
    """pid -> command line of the live children of `pid`."""
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return {int(child): command_line(int(child)) for child in found}


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def kinds(kids: dict[int, str]) -> list[str]:
    """What each child is, sorted: "tansu", "worker", or its command line."""
    return sorted("tansu" if "tansu" in c else "worker" if "streams.cli worker" in c else c for c in kids.values())


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited; only its exit status waits to be collected


def left_after(pids: set[int], timeout: float) -> set[int]:
    """The pids still alive after waiting up to `timeout` seconds for all of them to go."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    return {pid for pid in pids if alive(pid)}


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.1)


def port_is_free(port: int) -> bool:
    """Free as the next worker's web server sees it: no one listens (it binds with SO_REUSEADDR, as aiohttp does,
    so connections of the killed worker left in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Command:
    """A process of ours, its output in files so that waiting on it never blocks on a pipe."""

    def __init__(self, argv: list[str], work: Path, **env: str) -> None:
        self.out, self.err = work / "stdout", work / "stderr"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env={**os.environ, **env}, cwd=PROJECT_ROOT
            )

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def children(self) -> dict[int, str]:
        return children(self.process.pid)

    def stop(self, signum: int, timeout: float = 30.0) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def takeback(work: Path, *args: str, **env: str) -> Command:
    env = {"TAKEBACK_DATA_DIR": str(work), "TAKEBACK_STOP_GRACE_SECONDS": str(GRACE), **env}
    return Command([sys.executable, "-m", "streams.cli", *args], work, **env)


def assert_stopped_like_ctrl_c(command: Command, signum: int, code: int) -> None:
    err = command.stderr()
    assert code == 128 + signum, err
    reason = "interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}"
    assert err.strip().splitlines()[-1] == f"takeback: {reason}"
    assert "Traceback" not in err


def stop_and_check(command: Command, signum: int, kids: dict[int, str]) -> None:
    """Stop the command with `signum`; then none of the children recorded while it ran may be left."""
    code = command.stop(signum)
    if signum == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert_stopped_like_ctrl_c(command, signum, code)
    # after SIGKILL of its parent a worker gets SIGTERM from the kernel, and its broker is gone with it
    left = left_after(set(kids), timeout=GRACE + 5)
    assert not left, f"left running after {signal.Signals(signum).name}: {[kids[pid] for pid in left]}"


# --------------------------------------------------------------------------- the commands


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_serving_demo_stopped_leaves_no_broker_or_worker_and_frees_its_port(
    signum: int, corpus: Path, tmp_path: Path
) -> None:
    web_port = free_port()
    demo = takeback(tmp_path, "demo", str(corpus / SYNTHETIC), TAKEBACK_WEB_PORT=str(web_port))
    try:
        wait_for(lambda: "serving:" in demo.stdout() or demo.process.poll() is not None, 120, "the demo serving")
        assert demo.process.poll() is None, demo.stderr()
        kids = demo.children()
        assert kinds(kids) == ["tansu", "worker"]
        stop_and_check(demo, signum, kids)
        assert port_is_free(web_port), "the worker's port is still held"
    finally:
        demo.kill()


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"]
)
def test_a_replay_stopped_leaves_no_broker_or_worker(signum: int, corpus: Path, tmp_path: Path) -> None:
    run = takeback(tmp_path, "replay", str(corpus), "--out", str(tmp_path / "out"), "--timeout", "120")
    try:
        wait_for(
            lambda: any("streams.cli worker" in c for c in run.children().values()) or run.process.poll() is not None,
            60,
            "the replay's worker started",
        )
        assert run.process.poll() is None, run.stderr()
        kids = run.children()
        assert kinds(kids) == ["tansu", "worker"]
        stop_and_check(run, signum, kids)
    finally:
        run.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_broker_command_stopped_leaves_no_tansu(signum: int, tmp_path: Path) -> None:
    command = takeback(tmp_path, "broker", "--port", str(free_port()))
    try:
        wait_for(lambda: "listening" in command.stdout() or command.process.poll() is not None, 30, "the broker")
        kids = command.children()
        assert kinds(kids) == ["tansu"], command.stderr()
        stop_and_check(command, signum, kids)
    finally:
        command.kill()


# --------------------------------------------------------------------------- the test fixture

HOLD_THE_BROKER = """
import time

def test_hold(broker):
    print("broker pid", broker.process.pid, flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_pytest_run_stopped_leaves_no_broker(signum: int, tmp_path: Path) -> None:
    (tmp_path / "test_hold.py").write_text(HOLD_THE_BROKER)
    argv = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-s", "-q"]
    run = Command([*argv, "--rootdir", str(tmp_path), str(tmp_path / "test_hold.py")], tmp_path)
    try:
        wait_for(lambda: "broker pid" in run.stdout() or run.process.poll() is not None, 60, "the fixture's broker")
        kids = run.children()
        assert kinds(kids) == ["tansu"], (run.stdout(), run.stderr())
        code = run.stop(signum)
        assert code == (-signal.SIGKILL if signum == signal.SIGKILL else pytest.ExitCode.INTERRUPTED), run.stdout()
        assert not left_after(set(kids), timeout=5), "the fixture's broker outlived pytest"
    finally:
        run.kill()


# --------------------------------------------------------------------------- the worker


def test_a_worker_whose_broker_died_stops_within_its_grace_after_sigterm(tmp_path: Path) -> None:
    with EmbeddedBroker() as broker:
        settings = Settings(
            broker=broker.url, web_port=free_port(), data_dir=tmp_path, session_timeout=2.0, stop_grace_seconds=GRACE
        )
        asyncio.run(ensure_topics(settings))
        worker = WorkerProcess(settings, tmp_path / "worker.log").start()
        try:
            assert worker.wait_ready(timeout=60), worker.problem()
            broker.stop()  # SIGKILL: gone without a word, as when its machine dies
            time.sleep(0.5)
            started = time.monotonic()
            os.kill(worker.pid, signal.SIGTERM)
            worker.process.wait(timeout=GRACE + 10)
            took = time.monotonic() - started
        finally:
            worker.stop()
    assert took < GRACE + 3
    assert f"still stopping {GRACE:g} s after SIGTERM; exiting now" in (tmp_path / "worker.log").read_text()
