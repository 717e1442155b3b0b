"""Operator choices the rules leave open (settings feed them in; the defaults are the rules')."""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.domain.deadlines.rule_tables import RuleBook, shipped_rule_book


@dataclass(frozen=True)
class MatchPolicy:
    # Rules §5: a reversal still without its correction this long (in remittance time) is flagged.
    correction_wait_days: int = 30
    # Rules §11, §13: the rule tables (shipped, plus the operator's payer profiles and providers), loaded once.
    rules: RuleBook = field(default_factory=shipped_rule_book, compare=False, hash=False)
