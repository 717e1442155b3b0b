"""The input files a command was given: files in the order given, a directory's files sorted by name, or put in
canonical order for a backfill."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
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
        elif path.exists():  # a FIFO, a socket, a device: reading it could block forever or never end
            raise OSError(f"not a regular file or directory: {path}")
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return files


def file_label(path: Path) -> str:
    """The file's name as text that can be written anywhere (headers, JSON, a terminal): a name that is not UTF-8
    (Python keeps its bytes as surrogates, which no encoder accepts) shows its odd bytes as ``\\xff``."""
    return os.fsencode(path.name).decode("utf-8", "backslashreplace")


def in_canonical_order(files: Sequence[Path]) -> list[Path]:
    """Files sorted by their earliest remittance in the ledger's canonical order (a pre-read of BPR16, DTM*405 and
    TRN02; streams/domain/canonical_order.py), so a backfill is applied in order. Ties keep the order given.

    A file is placed whole, at its earliest set: a payer's 835 is produced for one date, and publishing cuts a
    file paying several payees into one piece per payee anyway, so a file's later sets rarely land behind others.
    """
    # imported here: the domain brings the X12 reader and the event contracts, which `replay` loads only after
    # it has started its worker (streams/runner.py)
    from streams.domain.canonical_order import earliest_order_key

    keys = {path: earliest_order_key(path.read_bytes()) for path in files}
    return sorted(files, key=keys.__getitem__)
