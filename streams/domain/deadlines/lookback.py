"""State look-back limits (rules §11): may a commercial payer still recoup a payment this old?

Only a commercial payer's recoupment is checked, against the payee's state (its N4, or the operator's provider
file). The answer says "may be beyond" and cites the statute: Takeback flags, it gives no legal advice.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from streams.domain.deadlines.rule_tables import PayerKind, RuleBook, StateLimit

FLAG = "beyond_lookback_limit"


class LookbackOutcome(StrEnum):
    inside = "inside"
    beyond = "beyond"
    no_limit = "no_limit"  # the state's row says it has none
    no_limit_on_file = "no_limit_on_file"  # the state is not in the table
    state_unknown = "state_unknown"
    not_commercial = "not_commercial"  # Medicare, Medicaid, other, or an unknown payer
    dates_unknown = "dates_unknown"


@dataclass(frozen=True)
class LookbackCheck:
    outcome: LookbackOutcome
    state: str | None = None
    limit: StateLimit | None = None
    limit_ends: dt.date | None = None  # the last day the payer may recoup, where a limit applies

    def sentence(self) -> str:
        """What a person reads on the takeback page."""
        if self.outcome is LookbackOutcome.beyond and self.limit is not None:
            return (
                f"This recoupment may be beyond {self.state}'s look-back limit of {self.limit.describe()} "
                f"(ended {self.limit_ends}; {self.limit.source.citation}). Not legal advice."
            )
        if self.outcome is LookbackOutcome.inside and self.limit is not None:
            return f"Within {self.state}'s look-back limit of {self.limit.describe()} ({self.limit.source.citation})."
        return _PLAIN.get(self.outcome, "")


_PLAIN = {
    LookbackOutcome.no_limit: "The state table lists no look-back limit for this state.",
    LookbackOutcome.no_limit_on_file: "No look-back limit on file for this state.",
    LookbackOutcome.state_unknown: "The payee's state is not known, so no look-back limit was checked.",
    LookbackOutcome.not_commercial: "Look-back limits are checked for commercial payers only.",
    LookbackOutcome.dates_unknown: "The original payment's date is not known, so no look-back limit was checked.",
}


def check_lookback(
    kind: PayerKind | None, state: str | None, paid_on: dt.date | None, recouped_on: dt.date | None, book: RuleBook
) -> LookbackCheck:
    """Rules §11: a commercial recoupment more than the state's limit after the original payment may be beyond it."""
    if kind is not PayerKind.commercial:
        return LookbackCheck(LookbackOutcome.not_commercial)
    if not state:
        return LookbackCheck(LookbackOutcome.state_unknown)
    state = state.upper()
    limit = book.state_limits.get(state)
    if limit is None:
        return LookbackCheck(LookbackOutcome.no_limit_on_file, state)
    if limit.limit is None:
        return LookbackCheck(LookbackOutcome.no_limit, state, limit)
    if paid_on is None or recouped_on is None:
        return LookbackCheck(LookbackOutcome.dates_unknown, state, limit)
    ends = last_day_allowed(paid_on, limit)
    outcome = LookbackOutcome.beyond if recouped_on > ends else LookbackOutcome.inside
    return LookbackCheck(outcome, state, limit, ends)


def last_day_allowed(paid_on: dt.date, limit: StateLimit) -> dt.date:
    """The payment's date plus the limit: calendar months land on the same day of the month (or its last day)."""
    assert limit.limit is not None
    if limit.unit == "days":
        return paid_on + dt.timedelta(days=limit.limit)
    months = paid_on.month - 1 + limit.limit
    year, month = paid_on.year + months // 12, months % 12 + 1
    return dt.date(year, month, min(paid_on.day, calendar.monthrange(year, month)[1]))
