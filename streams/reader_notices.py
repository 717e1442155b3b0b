"""The reader's notices (what it skipped or repaired in an input, never patient data) counted by code for operators.

The reader gives each notice its code (streams/domain/x12/notices.py); this module only counts and summarizes them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

OTHER = "other"  # a notice made without a code (a plain string): counted, never dropped


def notice_code(notice: str) -> str:
    return getattr(notice, "code", OTHER)


def notice_counts(notices: Iterable[str]) -> Counter[str]:
    return Counter(notice_code(n) for n in notices)


def describe_counts(counts: Counter[str]) -> str:
    """`non_835_set_skipped x2, group_without_ge x1`: codes and counts only, for a log line."""
    return ", ".join(f"{code} x{count}" for code, count in sorted(counts.items()))
