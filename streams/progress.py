"""A progress bar for commands that wait on many inputs (`replay`, the demo)."""

from __future__ import annotations

import sys
from typing import TextIO


class ProgressBar:
    """A one-line progress bar on stderr (the dependency-free kind)."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self._last = -1
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, done: int, total: int) -> None:
        if total <= 0 or done == self._last:
            return
        self._last = done
        filled = int(self.width * done / total)
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}"
        if self._tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        elif done >= total or done % max(1, total // 10) == 0:
            self.stream.write(line + "\n")
        self.stream.flush()
