"""The input files a command was given: files in the order given, a directory's files sorted by name."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files in the order given; a directory's files sorted by name (hidden files and SOURCES.md skipped)."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                p for p in sorted(path.iterdir()) if p.is_file() and not p.name.startswith(".") and p.suffix != ".md"
            )
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return files
