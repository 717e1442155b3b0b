"""The deadline fields of takeback events (rules §11, §13), from the facts alone: the one place the matchers call.

`first_fields` runs where a takeback is built (claim reversals, PLB recoveries): which kind of payer, and the
look-back check of a recoupment. `refresh` runs once per applied remittance on every takeback that changed: the
clocks (a settled takeback keeps its appeal clocks only, a withdrawn one none) and the money a claim's payer took
back twice. No clock is read here: what depends on today is `streams.domain.deadlines.today`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING

from schemas import ZERO, Lookback, ReasonCategory, RuleSource, Takeback, TakebackDeadline, TakebackStatus
from streams.domain.deadlines.clocks import Deadline, day_one, deadlines_for
from streams.domain.deadlines.lookback import FLAG as BEYOND_LOOKBACK
from streams.domain.deadlines.lookback import LookbackCheck, LookbackOutcome, check_lookback
from streams.domain.deadlines.payer_kind import KindFound, payer_kind_of
from streams.domain.deadlines.recovered_twice import FLAG as RECOVERED_TWICE
from streams.domain.deadlines.recovered_twice import Recovery, recovered_twice
from streams.domain.deadlines.rule_tables import PayerKind, RuleBook, Source
from streams.domain.takeback_status import revised, status_of

if TYPE_CHECKING:
    from streams.domain.claim_index import ClaimRef
    from streams.domain.derived_state import DerivedState

# What a person may still do about money already taken back: appeal it (rules §11).
APPEAL_CLOCKS = frozenset({"medicare_redetermination", "payer_appeal"})
PROFILE = "payer profile"
NO_CLOCKS: dict[str, object] = {"act_by": None, "deadline_kind": None, "deadline_source": None, "deadlines": []}


def first_fields(
    takeback: Takeback,
    book: RuleBook,
    filing_indicators: Iterable[str | None],
    payee_state: str | None,
) -> None:
    """A takeback just built (not yet published, so set in place): its payer's kind, its look-back check and its
    clocks (so `refresh` finds nothing to change on a new takeback: no second copy of it on the hot path)."""
    found = payer_kind_of([takeback.payer_id], filing_indicators, book)
    takeback.payer_kind = found.kind.value if found.kind else None
    takeback.payer_kind_found_by = found.how
    entry = book.providers.get(takeback.provider_id)
    state = entry.state if entry is not None else payee_state
    if takeback.kind == "recoupment":  # a payment not yet disbursed was never the provider's: no look-back (§5, §11)
        check = check_lookback(found.kind, state, takeback.original_effective_date, takeback.takeback_date, book)
        takeback.lookback = _lookback(check)
        if check.outcome is LookbackOutcome.beyond:
            takeback.flags = [*takeback.flags, BEYOND_LOOKBACK]
    takeback.status = status_of(takeback)
    # not yet published: set in place, past pydantic's per-field __setattr__ (its fields-set is shared anyway:
    # streams/domain/derived_state.py share_fields_set)
    vars(takeback).update(clock_fields(takeback, book))


@functools.lru_cache(maxsize=4096)
def _lookback(check: LookbackCheck) -> Lookback:
    """One shared event object per outcome, state and last day (a ledger's memory)."""
    limit = check.limit
    return Lookback(
        outcome=check.outcome.value,
        state=check.state,
        limit=limit.describe() if limit else None,
        last_day_allowed=check.limit_ends,
        source=_source(limit.source) if limit else None,
    )


def clock_fields(takeback: Takeback, book: RuleBook) -> dict[str, object]:
    """Day 1 and the clocks still relevant to the takeback as it stands, earliest first (rules §11)."""
    start = day_one(takeback.takeback_date) if takeback.takeback_date else None
    clocks: list[TakebackDeadline] = []
    if start is not None and not takeback.withdrawn:
        void = takeback.reason_category == ReasonCategory.provider_void
        clocks = _clocks(takeback, start, void, takeback.status == TakebackStatus.settled, book)
    first = clocks[0] if clocks else None
    return {
        "day_one": start,
        "deadlines": clocks,
        "act_by": first.act_by if first else None,
        "deadline_kind": first.deadline_kind if first else None,
        "deadline_source": first.source if first else None,
    }


def _clocks(takeback: Takeback, start: dt.date, void: bool, settled: bool, book: RuleBook) -> list[TakebackDeadline]:
    """The clocks of one payer kind (or profile) from one day 1, computed once per book: the takebacks of one
    payment share them. A takeback gets its own copy of the list (lists in events are never shared)."""
    profile = takeback.payer_id if takeback.payer_kind_found_by == PROFILE else None
    key = ("clocks", takeback.payer_kind, profile, start, void, settled)
    clocks = book.memo.get(key)
    if clocks is None:
        if len(book.memo) > 50_000:
            book.memo.clear()
        found = kind_found(takeback, book)
        clocks = [_deadline(d) for d in deadlines_for(found, start, book, provider_void=void)]
        if settled:
            clocks = [c for c in clocks if c.deadline_kind in APPEAL_CLOCKS]
        book.memo[key] = clocks
    return list(clocks)  # type: ignore[arg-type]


def kind_found(takeback: Takeback, book: RuleBook) -> KindFound:
    """The kind `first_fields` found, read back from the event (a profile is looked up again by payer id)."""
    kind = PayerKind(takeback.payer_kind) if takeback.payer_kind else None
    profile = book.profiles.get(takeback.payer_id) if takeback.payer_kind_found_by == PROFILE else None
    return KindFound(kind, takeback.payer_kind_found_by or "unknown payer", profile)


@functools.lru_cache(maxsize=4096)
def _deadline(d: Deadline) -> TakebackDeadline:
    """One shared event object per clock and day: the takebacks of one payment share them (a ledger's memory)."""
    return TakebackDeadline(
        deadline_kind=d.deadline_kind, act_by=d.act_by, day=d.day, description=d.description, source=_source(d.source)
    )


@functools.lru_cache(maxsize=256)
def _source(source: Source) -> RuleSource:
    return RuleSource(citation=source.citation, url=source.url, checked_on=source.checked_on)


# ---- recovered twice (rules §13)


def recovered_twice_fields(takebacks: list[Takeback], paid: Decimal) -> dict[str, dict[str, object]]:
    """For the live recoveries of one claim (takebacks, never settlements), with `paid` every payment of the claim:
    event id -> the fields each must carry. The recoveries that went beyond what the payer owed are flagged."""
    live = [t for t in takebacks if not t.withdrawn and t.amount > ZERO]
    ordered = sorted(live, key=lambda t: (t.takeback_date or dt.date.min, t.event_id))
    owed: Decimal | None = None  # what the payer last decided the claim is worth; unknown for PLB recoveries only
    for takeback in ordered:
        if takeback.plb_reason_code is None:  # a claim reversal: its correction's payment, else nothing
            owed = takeback.correction_payment if takeback.correction_payment is not None else ZERO
    recoveries = [Recovery(t.event_id, t.amount, str(t.method), t.takeback_date, t.trace_number) for t in ordered]
    excess = recovered_twice(paid, owed, recoveries)
    beyond = {r.takeback_id for r in excess.beyond} if excess else set()
    ids = [r.takeback_id for r in excess.recoveries] if excess else []
    fields: dict[str, dict[str, object]] = {}
    for takeback in takebacks:
        beyond_owed = takeback.event_id in beyond
        flags = [f for f in takeback.flags if f != RECOVERED_TWICE] + ([RECOVERED_TWICE] if beyond_owed else [])
        fields[takeback.event_id] = {
            "flags": flags,
            "recovered_twice_excess": excess.amount if beyond_owed and excess else None,
            "recovered_twice_ids": ids if beyond_owed else [],
        }
    return fields


def refresh(state: DerivedState, book: RuleBook) -> None:
    """After a remittance is applied: the clocks of every takeback it created or changed, and the recovered-twice
    fields of their claims' recoveries (a later recovery, or a correction, changes the earlier ones' too)."""
    dirty, state.dirty = state.dirty, []
    claims: dict[ClaimRef, None] = {}
    for event_id in dict.fromkeys(dirty):
        takeback = state.takebacks.get(event_id)
        if takeback is None:
            continue
        _put_changed(state, takeback, clock_fields(takeback, book))
        ref = state.claim_of.get(event_id)
        if ref is not None:
            claims[ref] = None
    for ref in claims:
        group = [state.takebacks[e] for e in state.recoveries_by_claim.get(ref, ()) if e in state.takebacks]
        if len(group) < 2 and not any(RECOVERED_TWICE in t.flags for t in group):
            continue  # one recovery is never two (the common case: nothing to compute)
        for event_id, fields in recovered_twice_fields(group, _paid(state, ref, group)).items():
            _put_changed(state, state.takebacks[event_id], fields)
    state.dirty.clear()  # neither step changes what the other computes


def note_claim(state: DerivedState, event_id: str, ref: ClaimRef | None) -> None:
    """The claim a takeback recovered (rules §4): where its recoveries are counted (rules §13)."""
    if ref is None:
        return
    state.claim_of[event_id] = ref
    ids = state.recoveries_by_claim.setdefault(ref, [])
    if event_id not in ids:
        ids.append(event_id)


def _paid(state: DerivedState, ref: ClaimRef, group: list[Takeback]) -> Decimal:
    """Every payment of the claim: its first payment (the one it is named by), and each correction's."""
    payer = group[0].payer_id
    first = next(
        (
            r.claim.payment
            for r in state.payments_by_claim_id.get((payer, ref[1]))
            if r.remittance.remittance_id == ref[2] and str(r.position) == ref[3]
        ),
        ZERO,
    )
    corrections = (t.correction_payment for t in group if t.plb_reason_code is None and t.correction_payment)
    return first + sum(corrections, ZERO)


def _put_changed(state: DerivedState, takeback: Takeback, fields: dict[str, object]) -> None:
    update = {name: value for name, value in fields.items() if getattr(takeback, name) != value}
    if update:
        state.put(revised(takeback, **update))
