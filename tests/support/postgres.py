"""A real PostgreSQL server for the tests: Debian's binaries, initdb into a temporary folder, a free port.

initdb refuses to run as root, so as root the server runs as a system user made for it (`takeback-test`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from streams.broker import free_port

PG_ROOTS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)  # newest major version first
SYSTEM_USER = "takeback-test"


def postgres_bin() -> Path | None:
    return next((root for root in PG_ROOTS if (root / "initdb").exists() and (root / "pg_ctl").exists()), None)


def _as_user(command: list[str]) -> list[str]:
    """Run as the unprivileged system user when we are root (initdb and postgres refuse root)."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            check=True,
            capture_output=True,
        )
    return ["runuser", "-u", SYSTEM_USER, "--", *command]


class PostgresServer:
    """initdb + pg_ctl start on loopback; stop() stops the server and removes its folder."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="takeback-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            _as_user(["true"])  # creates the user
            shutil.chown(self.root, SYSTEM_USER)
        self.root.chmod(0o700)
        run = _as_user(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale",
                "C",
            ]
        )
        subprocess.run(run, check=True, capture_output=True, timeout=120)
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        start = _as_user(
            [
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        result = subprocess.run(start, capture_output=True, text=True, timeout=90)
        if result.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start: {result.stdout} {self.log.read_text(errors='replace')}")
        return self

    def stop(self) -> None:
        stop = _as_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        subprocess.run(stop, capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)
