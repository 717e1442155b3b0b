"""The reader's notices (what it skipped or repaired in an input, never patient data) as short codes for operators.

The reader gives each notice as a sentence with positions in it; a metric label and a log summary want a fixed,
small set of codes instead. A notice this table does not know is counted as `other` (tests/test_ingest.py reads
inputs that produce every notice and checks that none is `other`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

OTHER = "other"
NOTICE_CODES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"skipped transaction set "), "non_835_set_skipped"),
    (re.compile(r"skipped unterminated transaction set "), "unterminated_set_skipped"),
    (re.compile(r"skipped \d+ bytes before the first segment"), "bytes_before_first_segment"),
    (re.compile(r"no ISA/GS envelope"), "no_envelope"),
    (re.compile(r"SE at segment \d+ has no ST"), "se_without_st"),
    (re.compile(r"functional group at segment \d+ has no GE"), "group_without_ge"),
    (re.compile(r"interchange at segment \d+ has no IEA"), "interchange_without_iea"),
    (re.compile(r"GE at segment \d+ closes no functional group"), "ge_without_group"),
    (re.compile(r"IEA at segment \d+ closes no interchange"), "iea_without_interchange"),
    (re.compile(r"ignored \d+ segments outside any transaction set"), "segments_outside_sets"),
)


def notice_code(notice: str) -> str:
    for pattern, code in NOTICE_CODES:
        if pattern.match(notice):
            return code
    return OTHER


def notice_counts(notices: Iterable[str]) -> Counter[str]:
    return Counter(notice_code(n) for n in notices)


def describe_counts(counts: Counter[str]) -> str:
    """`non_835_set_skipped x2, group_without_ge x1`: codes and counts only, for a log line."""
    return ", ".join(f"{code} x{count}" for code, count in sorted(counts.items()))
