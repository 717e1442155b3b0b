"""Where a clone keeps its sample inputs: the public ERA corpus and the hand-written scenarios.

The demo, the tests and the benchmark read them from here; nothing reads files outside the repository.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CORPUS_DIR = PROJECT_ROOT / "corpus" / "era"  # public 835 files, with their origins in SOURCES.md
SCENARIOS_DIR = PROJECT_ROOT / "tests" / "scenarios"  # one folder per rule, 835 files and expected.json


class SamplesMissing(FileNotFoundError):
    """The sample inputs are not there (an installed package, not a clone)."""


def demo_inputs() -> list[Path]:
    """The corpus, then every scenario's 835 files in order; an error when the clone lacks them."""
    if not CORPUS_DIR.is_dir() or not SCENARIOS_DIR.is_dir():
        raise SamplesMissing(
            f"the sample ERAs are not here ({CORPUS_DIR}, {SCENARIOS_DIR}): run the demo from a clone of the "
            "repository, or name the files to feed: takeback demo FILE_OR_DIR..."
        )
    scenario_files = [f for d in sorted(SCENARIOS_DIR.iterdir()) if d.is_dir() for f in sorted(d.glob("*.835"))]
    return [CORPUS_DIR, *scenario_files]


def describe_inputs(files: list[Path]) -> str:
    """'31 files from corpus/era, 40 from tests/scenarios': what a run is about to read, by folder."""
    folders = Counter(_shown(file.parent) for file in files)
    parts = [f"{count} files from {folder}" for folder, count in folders.items()]
    return ", ".join(parts) or "no files"


def _shown(folder: Path) -> str:
    folder = folder.resolve()
    for sample in (CORPUS_DIR, SCENARIOS_DIR):
        if folder == sample or sample in folder.parents:
            return str(sample.relative_to(PROJECT_ROOT))
    return str(folder)
