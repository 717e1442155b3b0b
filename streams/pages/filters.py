"""What a page or an export was asked for: the worklist's filters, the overview's search and sort, paging.

Parsed from the query string in one place, so a page, its CSV and its XLSX read the same filters; a value that
cannot be read raises BadFilter naming the field and why, which the views turn into a 400 page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from urllib.parse import urlencode

from schemas import ActionKind, ReasonCategory, TakebackKind, TakebackMethod, TakebackStatus
from streams.domain.work_state import DisputeState, WorkState

MINE = "mine"  # the assignee filter's value for "assigned to the person looking"
NOBODY = "nobody"  # ... for work nobody is assigned
UNTOUCHED = "none"  # the last-action filter's value for work nobody has acted on

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# The worklist's deadline filters and sorts (rules §11); what each means is streams.domain.deadlines.today's.
DUE_WITHIN_CHOICES = (7, 30)  # "due in 7 days", as the page offers it; the API takes any number of days
MAX_DUE_WITHIN = 3660
WORKLIST_SORTS = {"date": "newest first", "act_by": "act by, soonest first"}


class BadFilter(ValueError):
    """A query value the pages cannot use; `field` names it, the message says why."""

    def __init__(self, field: str, why: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


def _choice(query: Mapping[str, str], name: str, allowed: list[str]) -> str | None:
    value = query.get(name) or None
    if value is not None and value not in allowed:
        raise BadFilter(name, f"'{value}' is not one of {', '.join(allowed)}")
    return value


def _date(query: Mapping[str, str], name: str) -> dt.date | None:
    value = query.get(name) or None
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadFilter(name, f"'{value}' is not a date (YYYY-MM-DD)") from None


def _whole(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = query.get(name) or None
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadFilter(name, f"'{value}' is not a whole number") from None
    if not low <= number <= high:
        raise BadFilter(name, f"{number} is outside {low}..{high}")
    return number


def _yes(query: Mapping[str, str], name: str) -> bool:
    """A checkbox or an API flag: true, 1, yes or on; absent, empty or false is no."""
    value = (query.get(name) or "").lower()
    if value not in ("", "true", "1", "yes", "on", "false", "0", "no", "off"):
        raise BadFilter(name, f"'{value}' is not true or false")
    return value in ("true", "1", "yes", "on")


def today_of(query: Mapping[str, str]) -> dt.date:
    """The day deadlines are counted to (rules §11): `?today=YYYY-MM-DD` (what-if, tests), else the UTC date.
    The API and the pages both count from here, so a page and the API agree on what is due."""
    return _date(query, "today") or dt.datetime.now(dt.UTC).date()


def date_range(query: Mapping[str, str]) -> tuple[dt.date | None, dt.date | None]:
    """`from` and `to` (inclusive), checked to be in order."""
    start, end = _date(query, "from"), _date(query, "to")
    if start and end and start > end:
        raise BadFilter("from", f"{start} is after to ({end})")
    return start, end


@dataclass(frozen=True)
class Paging:
    limit: int = PAGE_SIZE
    offset: int = 0

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Paging:
        return cls(
            limit=_whole(query, "limit", PAGE_SIZE, 1, MAX_PAGE_SIZE),
            offset=_whole(query, "offset", 0, 0, 10**9),
        )


@dataclass(frozen=True)
class WorklistFilter:
    """The takeback worklist's filters. Withdrawn takebacks show only when asked for by status.

    The work filters (rules §12) read each takeback's work state: `assignee` is a name, "mine" (the person
    looking, `me` in `work_matches`) or "nobody"; `last_action` an action kind or "none" (nobody acted on it).
    """

    status: str | None = None
    kind: str | None = None
    method: str | None = None
    category: str | None = None
    payer: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    assignee: str | None = None
    dispute: str | None = None
    last_action: str | None = None
    due_within: int | None = None  # the next deadline falls within this many days of today
    overdue: bool = False  # the first deadline (act_by) has passed
    beyond_lookback: bool = False  # flagged beyond_lookback_limit
    sort: str = "date"  # a WORKLIST_SORTS key

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> WorklistFilter:
        start, end = date_range(query)
        return cls(
            status=_choice(query, "status", [s.value for s in TakebackStatus]),
            kind=_choice(query, "kind", [k.value for k in TakebackKind]),
            method=_choice(query, "method", [m.value for m in TakebackMethod]),
            category=_choice(query, "category", [c.value for c in ReasonCategory]),
            payer=(query.get("payer") or "").strip() or None,
            date_from=start,
            date_to=end,
            assignee=(query.get("assignee") or "").strip() or None,
            dispute=_choice(query, "dispute", [d.value for d in DisputeState]),
            last_action=_choice(query, "last_action", [UNTOUCHED, *(k.value for k in ActionKind)]),
            due_within=_whole(query, "due_within", -1, 0, MAX_DUE_WITHIN) if query.get("due_within") else None,
            overdue=_yes(query, "overdue"),
            beyond_lookback=_yes(query, "beyond_lookback"),
            sort=_choice(query, "sort", list(WORKLIST_SORTS)) or "date",
        )

    @property
    def by_deadline(self) -> bool:
        return self.due_within is not None or self.overdue or self.beyond_lookback

    @property
    def is_empty(self) -> bool:
        return self == WorklistFilter()

    @property
    def filters_work(self) -> bool:
        return any(v is not None for v in (self.assignee, self.dispute, self.last_action))

    def work_matches(self, state: WorkState | None, me: str) -> bool:
        """Whether a takeback with this work state (None: nobody acted on it) passes the work filters."""
        assignee = state.assignee if state else None
        if self.assignee == MINE and assignee != me:
            return False
        if self.assignee == NOBODY and assignee is not None:
            return False
        if self.assignee not in (None, MINE, NOBODY) and assignee != self.assignee:
            return False
        if self.dispute is not None and (state.dispute_state if state else DisputeState.none) != self.dispute:
            return False
        last = state.last_action if state else None
        return self.last_action is None or (last or UNTOUCHED) == self.last_action

    def as_query(self) -> dict[str, str]:
        names = {"date_from": "from", "date_to": "to"}
        default = WorklistFilter()
        return {
            names.get(f.name, f.name): ("true" if v is True else str(v))
            for f in fields(self)
            if (v := getattr(self, f.name)) is not None and v != getattr(default, f.name)
        }


OVERVIEW_SORTS = (
    "provider_id",
    "net_cash",
    "reversed",
    "recouped",
    "still_owed",
    "oldest_open",
    "needs_review",
    "due_this_week",
)


@dataclass(frozen=True)
class OverviewQuery:
    search: str | None = None
    sort: str = "provider_id"
    descending: bool = False

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> OverviewQuery:
        return cls(
            search=(query.get("q") or "").strip() or None,
            sort=_choice(query, "sort", list(OVERVIEW_SORTS)) or "provider_id",
            descending=_choice(query, "order", ["asc", "desc"]) == "desc",
        )

    def as_query(self) -> dict[str, str]:
        out = {"sort": self.sort, "order": "desc" if self.descending else "asc"}
        if self.search:
            out["q"] = self.search
        return out

    def toggled(self, column: str) -> OverviewQuery:
        """The query a column header links to: sort by it, flipping the order when it is already the sort."""
        return replace(self, sort=column, descending=not self.descending if self.sort == column else False)


def link(path: str, *parts: Mapping[str, str | int]) -> str:
    """`path?query` from merged query parts, leaving out empty values."""
    merged: dict[str, str] = {}
    for part in parts:
        merged.update({k: str(v) for k, v in part.items() if v not in (None, "")})
    return f"{path}?{urlencode(merged)}" if merged else path
