"""The input files a command was given: files in the order given, a directory's files sorted by name, or put in
canonical order for a backfill. `folder_files` is the one place that lists a folder's inputs (`publish`, `replay`,
the demo and `takeback watch`), so every command treats hidden files and links the same way."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

SKIPPED_SUFFIXES = (".md", ".part")  # notes next to inputs; a `.part` file is still being written (watch)


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files in the order given; a directory's files sorted by name (hidden files, `.part` and SOURCES.md skipped,
    links out of the directory not followed). A file named on the command line is read even when it is a link:
    the user chose it."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(folder_files(path, recursive=False, on_skip=_say_skipped))
        elif path.is_file():
            files.append(path)
        elif path.exists():  # a FIFO, a socket, a device: reading it could block forever or never end
            raise OSError(f"not a regular file or directory: {path}")
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return files


def _say_skipped(path: Path, reason: str) -> None:
    print(f"takeback: skipped {path}: {reason}", file=sys.stderr)


def is_candidate_name(name: str) -> bool:
    """A name an input folder's listing takes: not hidden, not a note, not a file still being written."""
    return not name.startswith(".") and not name.endswith(SKIPPED_SUFFIXES)


def folder_files(
    root: Path,
    *,
    recursive: bool,
    follow_links: bool = False,
    exclude: Iterable[Path] = (),
    on_skip: Callable[[Path, str], None] | None = None,
) -> list[Path]:
    """The input files in `root` (and its subfolders when `recursive`), sorted by path.

    A link whose target lies outside `root` is left out unless `follow_links`: a drop folder or a corpus folder
    must not become a way to publish any file the process can read (a link to a system file would end in a dead
    letter's `raw`, and so in the sink); `on_skip(path, reason)` hears of each one left out. Links to subfolders
    are not descended (no cycles). `exclude`: subfolders not to list (the watcher's processed/ and rejected/)."""
    top = root.resolve()
    skipped = {p.resolve() for p in exclude}
    found: list[Path] = []
    for folder, dirs, names in os.walk(root, followlinks=follow_links):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if recursive and not d.startswith(".") and (here / d).resolve() not in skipped)
        for name in names:
            path = here / name
            if not is_candidate_name(name):
                continue
            if path.is_symlink() and not follow_links and not path.resolve().is_relative_to(top):
                if on_skip is not None:
                    on_skip(path, f"a link out of {root} (not followed)")
                continue
            if path.is_file():
                found.append(path)
    return sorted(found)


def file_label(path: Path) -> str:
    """The file's name as text that can be written anywhere (headers, JSON, a terminal): see `printable`."""
    return printable(path.name)


def printable(name: str) -> str:
    """A file name (or path) as text: a name that is not UTF-8 (Python keeps its bytes as surrogates, which no
    encoder accepts) shows its odd bytes as ``\\xff``."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


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
