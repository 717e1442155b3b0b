"""What the billing pages show, computed from a provider's takebacks, its remittances' facts and its cash row.

Plain functions over plain data (no Faust, no HTTP), so the worker's pages and `takeback report` compute the same
figures. The worker hands in its ledger (ProviderData.from_ledger); the report command builds the same thing from
the output topics.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from schemas import ZERO, NetCashRow, PayerCash, Takeback, TakebackKind, TakebackStatus
from streams.domain.cash import AGE_BUCKETS as OPEN_AGE_BUCKETS
from streams.domain.cash import age_bucket as bucket_of
from streams.domain.deadlines.forecast import HORIZONS
from streams.domain.deadlines.lookback import FLAG as BEYOND_LOOKBACK
from streams.domain.deadlines.rule_tables import RuleBook
from streams.domain.deadlines.today import ForecastLine, forecast_lines, is_due_within, is_overdue
from streams.domain.ledger import RemittanceFacts
from streams.domain.work_state import WorkState
from streams.pages.filters import OverviewQuery, Paging, WorklistFilter, today_of

DERIVED_KEPT = 16
DUE_SOON = 7  # days: the overview's "due this week" is the worklist's "due in 7 days"

# Rules §8a: open balances by age, per provider and payer; the bounds are the cash row's (`open_by_age`), the
# labels are for reading ("0–30", "over 120").
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = tuple(
    (label.replace("over-", "over ").replace("-", "–"), low, high) for label, low, high in OPEN_AGE_BUCKETS
)


@dataclass
class ProviderData:
    """One provider as the pages read it."""

    provider_id: str
    row: NetCashRow | None
    takebacks: Mapping[str, Takeback]  # event_id -> latest revision (withdrawn ones included)
    remittances: Iterable[RemittanceFacts]


@dataclass
class TakebackIndex:
    """A provider's takebacks newest first, as columns, and what the pages sum over them; built once per ledger
    version.

    Filtering and summing 100,000 pydantic objects on every page view was most of a page's time; the order, the
    columns and the sums only change when the ledger does. Filters run over the columns (one list comprehension
    per filter, over a shrinking list of positions).
    """

    newest_first: list[str]
    status: list[str | None]
    kind: list[str]
    method: list[str]
    category: list[str]
    payer: list[str]
    date: list[dt.date | None]
    withdrawn: list[bool]
    live: list[int]  # positions of the takebacks that are not withdrawn
    needs_review: int
    open_count: int
    oldest_open: dt.date | None
    carried: dict[str, tuple[int, Decimal]]  # remittance id -> (takebacks in it, their amount), withdrawn left out
    ages: dict[dt.date, list[AgeLine]] = field(default_factory=dict)  # as_of -> open balances by age
    # what a page derives from all the takebacks (charts, forecast), by what it also depends on (today, the row's
    # revision): made once per ledger version and day, not on every view
    derived: dict[tuple[object, ...], Any] = field(default_factory=dict)
    # what the index was built from (the ledger replaces a takeback object when it revises it), for `updated`
    snapshot: dict[str, Takeback] = field(default_factory=dict)
    position_of: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, takebacks: Mapping[str, Takeback]) -> TakebackIndex:
        keyed = [(t.takeback_date or dt.date.min, t.event_id, t) for t in takebacks.values()]
        keyed.sort(reverse=True)  # event ids are unique: the takebacks themselves are never compared
        index = cls([], [], [], [], [], [], [], [], [], 0, 0, None, {})
        open_dates = []
        carried = index.carried
        for position, (_, event_id, t) in enumerate(keyed):
            index.newest_first.append(event_id)
            index.status.append(t.status)
            index.kind.append(t.kind)
            index.method.append(t.method)
            index.category.append(t.reason_category)
            index.payer.append(t.payer_id)
            index.date.append(t.takeback_date)
            index.withdrawn.append(t.withdrawn)
            if t.withdrawn:
                continue
            index.live.append(position)
            if t.status == TakebackStatus.needs_review:
                index.needs_review += 1
            elif t.status == TakebackStatus.open:
                index.open_count += 1
                if t.takeback_date:
                    open_dates.append(t.takeback_date)
            count, amount = carried.get(t.remittance_id, (0, ZERO))
            carried[t.remittance_id] = (count + 1, amount + t.amount)
        index.oldest_open = min(open_dates, default=None)
        index.snapshot = dict(takebacks)
        index.position_of = {event_id: i for i, event_id in enumerate(index.newest_first)}
        return index

    def updated(self, takebacks: Mapping[str, Takeback]) -> TakebackIndex:
        """The index of the ledger's takebacks now, changed in place when that is cheap, else rebuilt.

        Cheap, and the common case: a few takebacks revised (their status, what remains) and new ones newer than
        all the others (a new remittance). A revision that moves a takeback in the order, or new takebacks dated
        before the newest, rebuild the index.
        """
        changed = [t for event_id, t in takebacks.items() if self.snapshot.get(event_id) is not t]
        if not changed:
            return self
        if len(changed) > max(len(self.newest_first) // 10, 100):
            return TakebackIndex.build(takebacks)
        new = sorted(
            (t for t in changed if t.event_id not in self.position_of),
            key=lambda t: (t.takeback_date or dt.date.min, t.event_id),
            reverse=True,
        )
        revised = [t for t in changed if t.event_id in self.position_of]
        if any(self.snapshot[t.event_id].takeback_date != t.takeback_date for t in revised):
            return TakebackIndex.build(takebacks)
        if new and self.newest_first:
            newest = (self.date[0] or dt.date.min, self.newest_first[0])
            if (new[-1].takeback_date or dt.date.min, new[-1].event_id) < newest:
                return TakebackIndex.build(takebacks)
        for t in revised:
            self._count(self.snapshot[t.event_id], -1)
            self._set(self.position_of[t.event_id], t)
            self._count(t, +1)
        if new:
            fresh = TakebackIndex.build({t.event_id: t for t in new})
            for name in COLUMNS:
                setattr(self, name, getattr(fresh, name) + getattr(self, name))
            for t in new:
                self._count(t, +1)
            self.position_of = {event_id: i for i, event_id in enumerate(self.newest_first)}
        self.live = [i for i, withdrawn in enumerate(self.withdrawn) if not withdrawn]
        open_dates = [self.date[i] for i in self.live if self.status[i] == TakebackStatus.open and self.date[i]]
        self.oldest_open = min(open_dates, default=None)  # type: ignore[type-var]
        self.ages = {}
        self.derived = {}
        self.snapshot.update((t.event_id, t) for t in changed)
        return self

    def _set(self, position: int, t: Takeback) -> None:
        self.status[position] = t.status
        self.kind[position] = t.kind
        self.method[position] = t.method
        self.category[position] = t.reason_category
        self.payer[position] = t.payer_id
        self.withdrawn[position] = t.withdrawn

    def _count(self, t: Takeback, sign: int) -> None:
        """Add (+1) or take away (-1) one takeback's share of the counts and sums."""
        if t.withdrawn:
            return
        self.needs_review += sign * (t.status == TakebackStatus.needs_review)
        self.open_count += sign * (t.status == TakebackStatus.open)
        count, amount = self.carried.get(t.remittance_id, (0, ZERO))
        self.carried[t.remittance_id] = (count + sign, amount + sign * t.amount)

    def remember(self, key: tuple[object, ...], make: Callable[[], Any]) -> Any:
        """`make()` once per key while the takebacks stay as they are (a day's worth of keys at most)."""
        if key not in self.derived:
            if len(self.derived) >= DERIVED_KEPT:
                self.derived.clear()
            self.derived[key] = make()
        return self.derived[key]

    def open_balances(self, takebacks: Mapping[str, Takeback], as_of: dt.date) -> list[AgeLine]:
        if as_of not in self.ages:
            self.ages[as_of] = open_balances_by_age(takebacks.values(), as_of)
        return self.ages[as_of]


COLUMNS = (
    "newest_first",
    "status",
    "kind",
    "method",
    "category",
    "payer",
    "date",
    "withdrawn",
)


class IndexCache:
    """provider id -> (ledger version, TakebackIndex)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[object, TakebackIndex]] = {}

    def get(self, provider_id: str, version: object, takebacks: Mapping[str, Takeback]) -> TakebackIndex:
        found = self._entries.get(provider_id)
        if found is not None and found[0] == version:
            return found[1]
        index = found[1].updated(takebacks) if found is not None else TakebackIndex.build(takebacks)
        self._entries[provider_id] = (version, index)
        return index


def matching_positions(
    index: TakebackIndex,
    wanted: WorklistFilter,
    work: Mapping[str, WorkState] | None = None,
    me: str = "",
    today: dt.date | None = None,
) -> list[int]:
    """Positions (newest first, or soonest act-by first) of the takebacks the filter keeps. Withdrawn ones only when
    asked for by status. `work`: the takebacks' work states by event id (rules §12), for the work filters; `me`: who
    is looking; `today` (the real date: deadlines are in calendar time) is for the deadline filters."""
    if wanted.status == TakebackStatus.withdrawn:
        positions = [i for i, w in enumerate(index.withdrawn) if w]
    else:
        positions = index.live
    for column, value in (
        (index.status, wanted.status),
        (index.kind, wanted.kind),
        (index.method, wanted.method),
        (index.category, wanted.category),
        (index.payer, wanted.payer),
    ):
        if value is not None:
            positions = [i for i in positions if column[i] == value]
    dates = index.date
    if wanted.date_from is not None:
        start = wanted.date_from
        positions = [i for i in positions if dates[i] is not None and dates[i] >= start]  # type: ignore[operator]
    if wanted.date_to is not None:
        end = wanted.date_to
        positions = [i for i in positions if dates[i] is not None and dates[i] <= end]  # type: ignore[operator]
    if wanted.filters_work:
        states = work or {}
        ids = index.newest_first
        positions = [i for i in positions if wanted.work_matches(states.get(ids[i]), me)]
    return _by_deadline(index, wanted, positions, today or today_of({}))


def _by_deadline(index: TakebackIndex, wanted: WorklistFilter, positions: list[int], today: dt.date) -> list[int]:
    """Rules §11, read as of `today` with the domain's rules (streams/domain/deadlines/today.py), on the takebacks
    themselves: a deadline filter is asked for rarely enough that the columns need not carry the clocks."""
    if not wanted.by_deadline and wanted.sort != "act_by":
        return positions
    of = index.snapshot
    ids = index.newest_first
    if wanted.due_within is not None:
        days = wanted.due_within
        positions = [i for i in positions if is_due_within(of[ids[i]], today, days)]
    if wanted.overdue:
        positions = [i for i in positions if is_overdue(of[ids[i]], today)]
    if wanted.beyond_lookback:
        positions = [i for i in positions if BEYOND_LOOKBACK in of[ids[i]].flags]
    if wanted.sort == "act_by":  # soonest first; takebacks without a clock last (as the API sorts)
        positions = sorted(
            positions, key=lambda i: (of[ids[i]].act_by is None, of[ids[i]].act_by or dt.date.max, ids[i])
        )
    return positions


@dataclass
class Page:
    total: int
    items: list[Takeback]
    paging: Paging


def worklist(
    takebacks: Mapping[str, Takeback],
    index: TakebackIndex,
    wanted: WorklistFilter,
    paging: Paging,
    work: Mapping[str, WorkState] | None = None,
    me: str = "",
    today: dt.date | None = None,
) -> Page:
    """The filtered takebacks, newest first, one page of them and how many there are in all."""
    positions = matching_positions(index, wanted, work, me, today)
    shown = positions[paging.offset : paging.offset + paging.limit]
    return Page(total=len(positions), items=[takebacks[index.newest_first[i]] for i in shown], paging=paging)


def all_matching(
    takebacks: Mapping[str, Takeback],
    index: TakebackIndex,
    wanted: WorklistFilter,
    work: Mapping[str, WorkState] | None = None,
    me: str = "",
    today: dt.date | None = None,
) -> list[Takeback]:
    return [takebacks[index.newest_first[i]] for i in matching_positions(index, wanted, work, me, today)]


# --------------------------------------------------------------------------- cash reconciliation


@dataclass
class ReconciliationLine:
    """Rules §8: net cash = claim payments - reversed - recouped + forward balance + refunds + other - not moved
    + unexplained (the last two only for the remittances of rules §7)."""

    payer_id: str
    claim_payments: Decimal
    reversed: Decimal
    recouped: Decimal
    forward_balance: Decimal
    refunds: Decimal
    other_adjustments: Decimal
    not_moved: Decimal
    unexplained: Decimal
    net_cash: Decimal


def _line(payer_id: str, cash: NetCashRow | PayerCash) -> ReconciliationLine:
    return ReconciliationLine(
        payer_id=payer_id,
        claim_payments=cash.claim_payments,
        reversed=cash.reversed,
        recouped=cash.recouped,
        forward_balance=cash.forward_balance,
        refunds=cash.refunds,
        other_adjustments=cash.other_adjustments,
        not_moved=cash.not_moved,
        unexplained=cash.unexplained,
        net_cash=cash.net_cash,
    )


def reconciliation(row: NetCashRow | None) -> list[ReconciliationLine]:
    """One line per payer, then the provider's total (payer 'all payers')."""
    if row is None:
        return []
    lines = [_line(p.payer_id, p) for p in sorted(row.by_payer, key=lambda p: p.payer_id)]
    return [*lines, _line("all payers", row)]


# --------------------------------------------------------------------------- open balances by age


@dataclass
class AgeLine:
    payer_id: str
    buckets: list[Decimal]
    total: Decimal


def open_amount(t: Takeback) -> Decimal:
    """What is still owed on one takeback: `remaining` while it is open (the whole amount when not given)."""
    if t.withdrawn or t.status != TakebackStatus.open:
        return ZERO
    return t.remaining if t.remaining is not None else t.amount


def open_balances_by_age(
    takebacks: Iterable[Takeback], as_of: dt.date, amount_of: Callable[[Takeback], Decimal] = open_amount
) -> list[AgeLine]:
    """Per payer, the open amounts by age since the takeback date, then an 'all payers' line.

    The one place that decides what an open balance is: when NetCashRow carries `open_by_age`, this is what to
    point at it.
    """
    per_payer: dict[str, list[Decimal]] = {}
    for t in takebacks:
        owed = amount_of(t)
        if owed == ZERO:
            continue
        days = (as_of - t.takeback_date).days if t.takeback_date else 0
        buckets = per_payer.setdefault(t.payer_id, [ZERO] * len(AGE_BUCKETS))
        buckets[bucket_of(days)] += owed
    lines = [AgeLine(p, b, sum(b, ZERO)) for p, b in sorted(per_payer.items())]
    if lines:
        totals = [sum((line.buckets[i] for line in lines), ZERO) for i in range(len(AGE_BUCKETS))]
        lines.append(AgeLine("all payers", totals, sum(totals, ZERO)))
    return lines


def as_of_date(row: NetCashRow | None) -> dt.date:
    """Ages are counted in remittance time, to the provider's latest remittance (as the rules' waits are)."""
    return (row.last_remittance_date if row else None) or dt.date.today()


# --------------------------------------------------------------------------- payments (one row per check/EFT)


@dataclass
class PaymentLine:
    remittance_id: str
    trace_number: str
    payer_id: str
    date: dt.date | None
    effective_date: dt.date | None
    amount: Decimal  # BPR02 as it moved: negative for a debit, 0 when no money moved
    claims_paid: int
    claim_payments: Decimal
    takebacks: int
    taken_back: Decimal
    plb_lines: int
    plb_total: Decimal
    flags: list[str] = field(default_factory=list)


def payments(
    remittances: Iterable[RemittanceFacts],
    takebacks: Iterable[Takeback] | None = None,
    *,
    carried: Mapping[str, tuple[int, Decimal]] | None = None,
    limit: int | None = None,
) -> list[PaymentLine]:
    """Every remittance the provider received (or the newest `limit`), newest first: what the ERA paid and what it
    carried. `carried` (TakebackIndex.carried) saves a pass over the takebacks."""
    if carried is None:
        counts: dict[str, tuple[int, Decimal]] = {}
        for t in takebacks or ():
            if not t.withdrawn:
                count, amount = counts.get(t.remittance_id, (0, ZERO))
                counts[t.remittance_id] = (count + 1, amount + t.amount)
        carried = counts
    ordered = sorted(remittances, key=lambda r: (r.takeback_date or dt.date.min, r.trace_number, r.remittance_id))
    ordered.reverse()
    return [_payment_line(r, carried.get(r.remittance_id, (0, ZERO))) for r in ordered[:limit]]


def _payment_line(r: RemittanceFacts, carried: tuple[int, Decimal]) -> PaymentLine:
    paid = [c for c in r.claims if c.status_code != "22"]
    return PaymentLine(
        remittance_id=r.remittance_id,
        trace_number=r.trace_number,
        payer_id=r.payer_id,
        date=r.takeback_date,
        effective_date=r.effective_date,
        amount=r.net_cash,
        claims_paid=len(paid),
        claim_payments=sum((c.payment for c in paid), ZERO),
        takebacks=carried[0],
        taken_back=carried[1],
        plb_lines=len(r.adjustments),
        plb_total=sum((a.amount for a in r.adjustments), ZERO),
        flags=list(r.flags),
    )


def in_period(day: dt.date | None, start: dt.date | None, end: dt.date | None) -> bool:
    if start is None and end is None:
        return True
    return day is not None and (start is None or day >= start) and (end is None or day <= end)


# --------------------------------------------------------------------------- the providers overview


@dataclass
class OverviewLine:
    provider_id: str
    net_cash: Decimal
    claim_payments: Decimal
    reversed: Decimal
    recouped: Decimal
    still_owed: Decimal  # open forward balances and deferred recoveries (the cash row's forward balance)
    oldest_open: dt.date | None
    needs_review: int | None  # None: the provider's ledger is on another worker than its row (docs/known-problems.md)
    takebacks: int
    last_remittance_date: dt.date | None
    untouched: int | None = None  # takebacks nobody has acted on (rules §12); None until the work states are read
    provider_name: str | None = None  # N1*PE N102 of its latest remittance, when the ledger is on this worker
    # rules §11, §13, as of today, when the ledger is on this worker: takebacks whose next deadline is within a
    # week, and the offsets expected within 7, 30 and 60 days (the provider page's forecast, summed over payers)
    due_this_week: int | None = None
    offsets_7: Decimal | None = None
    offsets_30: Decimal | None = None
    offsets_60: Decimal | None = None

    def as_json(self) -> dict[str, object]:
        return {k: (format(v, "f") if isinstance(v, Decimal) else v) for k, v in self.__dict__.items()} | {
            "oldest_open": self.oldest_open.isoformat() if self.oldest_open else None,
            "last_remittance_date": self.last_remittance_date.isoformat() if self.last_remittance_date else None,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> OverviewLine:
        def day(v: object) -> dt.date | None:
            return dt.date.fromisoformat(str(v)) if v else None

        money = ("net_cash", "claim_payments", "reversed", "recouped", "still_owed", *OFFSET_FIELDS)
        values = {
            k: (Decimal(str(d[k])) if k in money and d.get(k) is not None else d.get(k))
            for k in cls.__dataclass_fields__
        }
        values["oldest_open"] = day(d.get("oldest_open"))
        values["last_remittance_date"] = day(d.get("last_remittance_date"))
        return cls(**values)  # type: ignore[arg-type]


OFFSET_FIELDS = ("offsets_7", "offsets_30", "offsets_60")


def overview_line(
    row: NetCashRow,
    index: TakebackIndex | None,
    provider_name: str | None = None,
    coming: Coming | None = None,
) -> OverviewLine:
    dates = [d for d in (row.oldest_open_forward_balance, index.oldest_open if index else None) if d]
    return OverviewLine(
        provider_id=row.provider_id,
        net_cash=row.net_cash,
        claim_payments=row.claim_payments,
        reversed=row.reversed,
        recouped=row.recouped,
        still_owed=row.forward_balance,
        oldest_open=min(dates, default=None),
        needs_review=index.needs_review if index else None,
        takebacks=sum(row.takebacks_by_kind.values()),
        last_remittance_date=row.last_remittance_date,
        provider_name=provider_name,
        due_this_week=coming.due_this_week if coming else None,
        offsets_7=coming.offsets[0] if coming else None,
        offsets_30=coming.offsets[1] if coming else None,
        offsets_60=coming.offsets[2] if coming else None,
    )


@dataclass(frozen=True)
class Coming:
    """What is coming for one provider as of a day (rules §11, §13)."""

    due_this_week: int
    offsets: tuple[Decimal, Decimal, Decimal]  # expected within 7, 30, 60 days, all payers


def provider_takebacks(takebacks: Iterable[Takeback], provider_id: str) -> list[Takeback]:
    """The takebacks netted from the provider's own payments: what its forecast counts (as the API's does)."""
    return [t for t in takebacks if t.payee_provider_id == provider_id]


def coming(
    takebacks: Mapping[str, Takeback], provider_id: str, today: dt.date, rules: RuleBook, row: NetCashRow | None
) -> tuple[Coming, list[ForecastLine]]:
    """The overview's counts and the forecast lines they sum, from the same takebacks the worklist filters."""
    # a takeback with no clock, or whose last clock has passed, cannot be due: most are skipped on that
    due = sum(
        1
        for t in takebacks.values()
        if t.deadlines and t.deadlines[-1].act_by >= today and not t.withdrawn and is_due_within(t, today, DUE_SOON)
    )
    lines = forecast_lines(provider_takebacks(takebacks.values(), provider_id), today, rules, row)
    offsets = tuple(sum((getattr(line, f"within_{days}_days") for line in lines), ZERO) for days in HORIZONS)
    return Coming(due, offsets), lines  # type: ignore[arg-type]


def overview(lines: Sequence[OverviewLine], query: OverviewQuery) -> list[OverviewLine]:
    """Searched (by provider id or name, case-insensitive substring) and sorted; None dates sort last."""
    wanted = (query.search or "").lower()
    found = [line for line in lines if wanted in f"{line.provider_id} {line.provider_name or ''}".lower()]

    def key(line: OverviewLine) -> tuple[bool, object, str]:
        value = getattr(line, query.sort)
        return (value is None, value if value is not None else 0, line.provider_id)

    found.sort(key=key, reverse=query.descending)
    if query.descending:  # keep missing values last either way
        found.sort(key=lambda line: getattr(line, query.sort) is None)
    return found


def takebacks_in_period(takebacks: Iterable[Takeback], start: dt.date | None, end: dt.date | None) -> list[Takeback]:
    return [t for t in takebacks if not t.withdrawn and in_period(t.takeback_date, start, end)]


def kind_total(takebacks: Iterable[Takeback], kind: TakebackKind) -> Decimal:
    return sum((t.amount for t in takebacks if t.kind == kind), ZERO)
