"""Operator choices the rules leave open (settings feed them in; the defaults are the rules')."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MatchPolicy:
    # Rules §5: a reversal still without its correction this long (in remittance time) is flagged.
    correction_wait_days: int = 30
