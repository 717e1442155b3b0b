"""A clone is the whole product: nothing reads files outside the repository.

The first test looks for references to a sibling folder; the second copies the files git tracks into an empty
temporary folder (no siblings, as a user's clone) and runs the tests that read the corpus and the demo there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from streams.broker import free_port
from streams.samples import PROJECT_ROOT

OUTSIDE = "../" + "shared"  # spelled apart so this file does not match itself


def tracked_files() -> list[str]:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True)
    return [name for name in listing.stdout.decode().split("\0") if name]


def test_no_file_in_the_repository_refers_to_a_folder_beside_it() -> None:
    offenders = []
    for name in tracked_files():
        path = PROJECT_ROOT / name
        if path.is_file() and OUTSIDE.encode() in path.read_bytes():
            offenders.append(name)
    assert offenders == []


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked files, as they are in the work tree, in a folder whose parent holds nothing else."""
    root = tmp_path_factory.mktemp("fresh-clone") / "takeback"
    for name in tracked_files():
        source = PROJECT_ROOT / name
        if source.is_file():  # a file deleted in the work tree and not yet committed is gone from a clone too
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    assert sorted(p.name for p in root.parent.iterdir()) == ["takeback"]
    imported = run_in(root, "-c", "import streams; print(streams.__file__)", timeout=60).stdout.strip()
    assert Path(imported).is_relative_to(root), "the clone's runs must import the clone's code"
    return root


def run_in(clone: Path, *args: str, timeout: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # `-m` puts the clone first on sys.path, ahead of the editable install of this checkout
    return subprocess.run(
        [sys.executable, *args],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_the_corpus_tests_pass_in_a_clone_with_nothing_beside_it(clone: Path) -> None:
    tests = ["tests/test_corpus_reader.py", "tests/test_x12_reader.py", "tests/test_chunking.py"]
    run = run_in(clone, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", *tests, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout.strip().splitlines()[-1]


@pytest.mark.broker
def test_the_demo_in_a_clone_shows_the_public_corpus(clone: Path, tmp_path: Path) -> None:
    env = {"TAKEBACK_DATA_DIR": str(tmp_path), "TAKEBACK_WEB_PORT": str(free_port())}
    run = run_in(clone, "-m", "streams.cli", "demo", "--once", timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    corpus_files = len([p for p in (clone / "corpus" / "era").iterdir() if p.suffix != ".md"])
    assert f"feeding {corpus_files} files from corpus/era, " in run.stderr
    assert "1234567893" in run.stdout  # the payee of the corpus's synthetic file, in no scenario
