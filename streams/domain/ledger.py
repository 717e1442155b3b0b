"""A provider's ledger: which remittances it applied, what it published, where its cash stands.

The entry point of the domain core: the stream layer keeps one ``ProviderLedger`` per provider
in a table, decodes each remittance event with ``facts_from_json`` and calls ``apply_remittance``
(and ``settle`` once per batch); ``__all__`` is what it may use. The rules themselves live in
`matching` (claims, PLB amounts); this module keeps the state.

Design (why it is built this way):

* **Idempotent by construction.**  The ledger keeps the ids of the remittances
  it applied *in the same value* as the amounts they changed, so a remittance
  delivered twice (Kafka's at-least-once, a clearinghouse re-send in a new
  envelope) is recognised and not counted again.
* **One ledger per TIN.**  A payer offsets at the TIN level (rules §5), so a ledger holds the remittances of
  every NPI of one TIN (its key: `streams.domain.ids.ledger_key`) and matching sees all their claims; cash rows
  stay per payee NPI (`cash_row(ledger, npi)`). ``provider_id`` is the ledger key: an NPI when the ERAs give
  no TIN.
* **Order independent.**  The ledger keeps the facts of every applied
  remittance and derives takebacks and cash from them in a canonical order
  (payment date, trace number, id).  A remittance that arrives in that order
  is applied incrementally (the common, cheap case); so is one that arrives
  out of order but cannot interact with the remittances sorting after it
  (streams/domain/late_arrival.py decides, conservatively); any other makes
  the ledger re-derive everything, so the result is the same as if it had
  arrived in order.  Takebacks whose content changed are re-emitted
  with the same ``event_id`` and a higher ``revision``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

from pydantic import BaseModel, PrivateAttr

from schemas import ZERO, NetCashRow, PayerCash, Remittance, Takeback, TakebackStatus
from streams.domain.cash import open_by_age, totals_as_fields
from streams.domain.deadlines.takebacks import NO_CLOCKS
from streams.domain.derived_state import CarriedBalance, DerivedState, PayeeCash
from streams.domain.facts import InvalidRemittance, RemittanceFacts, facts_from_json, facts_of
from streams.domain.late_arrival import can_apply_in_place, late_arrivals
from streams.domain.match_policy import MatchPolicy
from streams.domain.matching import Matcher, derive
from streams.domain.reissues import held_versions, is_reissue

__all__ = [
    "InvalidRemittance",
    "LedgerUpdate",
    "MatchPolicy",
    "ProviderLedger",
    "RemittanceFacts",
    "apply_remittance",
    "cash_row",
    "cash_rows",
    "facts_from_json",
    "remittances_of",
    "settle",
    "takebacks_of",
]


def trace_key(facts: RemittanceFacts) -> str:
    """Rules §2: TRN02 is unique per payer, so a second remittance to the same payee under this key reuses a trace
    number (a ledger holds the payees of one TIN: a TRN02 shared by two of them is not reused by either)."""
    return f"{facts.payer_id}|{facts.trace_number}|{facts.payee_id}"


@dataclass
class LedgerUpdate:
    """What applying one remittance produced."""

    outcome: str  # "applied" | "duplicate"
    takebacks: list[Takeback]  # new takebacks and new revisions, to publish
    ledger: ProviderLedger | None = None  # its ledger, when it has a row to show (not while deferring)
    payee_id: str = ""
    deferred: bool = False  # applied, its effects come with `settle` at the end of the batch

    @property
    def revision(self) -> int | None:
        """The revision of the ledger's cash rows after it; None while deferring (`settle` brings it)."""
        return None if self.ledger is None else len(self.ledger.remittances)

    @cached_property
    def cash(self) -> NetCashRow | None:
        """The payee's row, made when first asked for: a row costs a pass over the ledger's takebacks, and the
        match batch publishes every row of a ledger once per batch instead (`cash_rows`)."""
        return None if self.ledger is None else cash_row(self.ledger, self.payee_id)


class ProviderLedger(BaseModel):
    """The state of one ledger (the NPIs of one TIN, or one NPI): the facts of every remittance it applied, and what
    it published.

    Stored as a header plus each remittance's facts under its own key (streams/domain/ledger_records.py).
    """

    provider_id: str  # the ledger key (streams.domain.ids.ledger_key)
    remittances: dict[str, RemittanceFacts] = {}
    emitted: dict[str, Takeback] = {}  # event_id -> latest published revision
    trace_index: dict[str, list[str]] = {}  # trace_key -> remittance ids (reused TRN02 detection)

    _state: DerivedState | None = PrivateAttr(default=None)
    _pending: list[str] = PrivateAttr(default_factory=list)  # deferred out-of-order remittances (see settle)
    _unsaved: list[str] = PrivateAttr(default_factory=list)  # applied since the last store write (ledger_records)

    @classmethod
    def restored(
        cls, provider_id: str, remittances: dict[str, RemittanceFacts], emitted: dict[str, Takeback]
    ) -> ProviderLedger:
        """A ledger rebuilt from stored facts (in the order they were applied) and published takebacks."""
        ledger = cls(provider_id=provider_id, remittances=remittances, emitted=emitted)
        for facts in remittances.values():
            ledger._own(facts)
            ledger._index_trace(facts)
        return ledger

    def take_unsaved(self) -> list[str]:
        """Remittance ids applied since the last call, for a store that writes each remittance's facts once."""
        unsaved, self._unsaved = self._unsaved, []
        return unsaved

    def state(self, policy: MatchPolicy | None = None) -> DerivedState:
        if self._state is None:
            self._state = _derive(self, policy or MatchPolicy())
            for takeback in self._state.takebacks.values():  # a restored ledger: one object per takeback, not two
                _same_as_published(self, takeback)
        return self._state

    def _own(self, facts: RemittanceFacts) -> None:
        """Facts stored before they named their payee belong to the ledger of that payee (keyed by its NPI)."""
        if not facts.payee_ids:
            facts.payee_ids = [self.provider_id]

    def _index_trace(self, facts: RemittanceFacts) -> None:
        self.trace_index.setdefault(trace_key(facts), []).append(facts.remittance_id)


def apply_remittance(
    ledger: ProviderLedger,
    remittance: Remittance | RemittanceFacts,
    policy: MatchPolicy | None = None,
    *,
    defer: bool = False,
) -> LedgerUpdate:
    """Apply one remittance to its ledger (its payee's TIN's); never applies the same remittance twice.

    A remittance seen before is a duplicate: nothing changes, and the events it
    produced are returned again, so a crash between saving the ledger and
    publishing its events loses nothing (consumers upsert by event id).

    A remittance that sorts before ones already applied is applied in place when it
    cannot interact with them (streams/domain/late_arrival.py), else makes the ledger
    re-derive.  With ``defer``, that waits for `settle` (once per batch), so a
    backfill of old ERAs costs one re-derivation per batch, not one per remittance;
    the update is then empty and `deferred` is true.
    """
    seen = ledger.remittances.get(remittance.remittance_id)
    if seen is not None:
        again = [ledger.emitted[e] for e in seen.published if e in ledger.emitted]
        shown = None if ledger._pending else ledger  # while deferring, settle brings the row
        return LedgerUpdate(outcome="duplicate", takebacks=again, ledger=shown, payee_id=seen.payee_id)
    facts = remittance if isinstance(remittance, RemittanceFacts) else facts_of(remittance)
    try:
        return _apply_new(ledger, facts, policy or MatchPolicy(), defer)
    except Exception:
        _roll_back(ledger, remittance.remittance_id)
        raise


def settle(ledger: ProviderLedger, policy: MatchPolicy | None = None) -> LedgerUpdate | None:
    """Re-derive a ledger that deferred out-of-order remittances; None when nothing was deferred.

    The changes are credited to the last deferred remittance (a re-delivered batch re-emits them).
    """
    pending, ledger._pending = ledger._pending, []
    if not pending:
        return None
    try:
        state = _derive(ledger, policy or MatchPolicy())
    except Exception:
        for remittance_id in pending:
            _roll_back(ledger, remittance_id)
        raise
    ledger._state = state
    changed = _publishable_changes(ledger, state, None)
    last = ledger.remittances[pending[-1]]
    last.published = [t.event_id for t in changed]
    return LedgerUpdate(outcome="applied", takebacks=changed, ledger=ledger, payee_id=last.payee_id)


def _apply_new(ledger: ProviderLedger, facts: RemittanceFacts, policy: MatchPolicy, defer: bool) -> LedgerUpdate:
    ledger._own(facts)
    same_trace = ledger.trace_index.get(trace_key(facts))
    # Rules §2: another version of a payment already applied replaces it or is replaced (a re-derive decides);
    # a trace number reused by a different remittance (zero-pay ERAs) is applied and flagged.
    reissue = bool(same_trace) and is_reissue(facts, (ledger.remittances[rid] for rid in same_trace or ()))
    if same_trace and not reissue:
        facts.flags.append("reused_trace_number")
    state = None if ledger._pending else ledger.state(policy)
    key = facts.order_key()
    late = state is not None and key < state.last_key
    in_place = state is not None and late and not reissue and can_apply_in_place(state, facts, key)
    if late:
        late_arrivals.count(in_place)
    ledger.remittances[facts.remittance_id] = facts
    ledger._unsaved.append(facts.remittance_id)
    ledger._index_trace(facts)

    if state is not None and not reissue and (not late or in_place):  # in order, or late and cannot interact
        state.touched.clear()
        Matcher(state, policy).apply(facts)
        changed = _publishable_changes(ledger, state, state.touched)
    elif defer:  # out of order, re-issued, or behind one that is: re-derive once, at the end of the batch
        ledger._pending.append(facts.remittance_id)
        return LedgerUpdate(outcome="applied", takebacks=[], deferred=True)
    else:  # arrived out of order, or re-issued: re-derive so the result equals an in-order run
        state = _derive(ledger, policy)
        ledger._state = state
        changed = _publishable_changes(ledger, state, None)
    facts.published = [t.event_id for t in changed]
    return LedgerUpdate(outcome="applied", takebacks=changed, ledger=ledger, payee_id=facts.payee_id)


def _derive(ledger: ProviderLedger, policy: MatchPolicy) -> DerivedState:
    """The derived state of the versions the ledger holds (rules §2); a replaced version counts only its flags."""
    held, replaced = held_versions(ledger.remittances, ledger.trace_index)
    state = derive(held, policy)
    for facts in replaced:
        state.count_flags(facts, facts.flags)
    return state


def _roll_back(ledger: ProviderLedger, remittance_id: str) -> None:
    """Forget a remittance that failed half-way; the derived state is rebuilt from the facts on next use."""
    if remittance_id in ledger._pending:
        ledger._pending.remove(remittance_id)
    if remittance_id in ledger._unsaved:
        ledger._unsaved.remove(remittance_id)
    facts = ledger.remittances.pop(remittance_id, None)
    if facts is not None:
        ids = ledger.trace_index.get(trace_key(facts), [])
        if remittance_id in ids:
            ids.remove(remittance_id)
    ledger._state = None


def _publishable_changes(ledger: ProviderLedger, state: DerivedState, touched: set[str] | None) -> list[Takeback]:
    """Takebacks that are new or changed since last published, with their next revision.

    ``touched``: the takebacks the last incremental step could have changed (None after a re-derive: all).
    """
    candidates = state.takebacks.keys() if touched is None else [e for e in touched if e in state.takebacks]
    changed: list[Takeback] = []
    for event_id in candidates:
        takeback = state.takebacks[event_id]
        if _same_as_published(ledger, takeback):
            continue
        previous = ledger.emitted.get(event_id)
        # The derived state's takeback is published as it is, not copied: takebacks are never changed in
        # place (a change is a new object), and a copy per takeback cost much of a ledger's memory.
        takeback.revision = previous.revision + 1 if previous else 1
        ledger.emitted[event_id] = takeback
        changed.append(takeback)
    if touched is None:
        for event_id, previous in ledger.emitted.items():
            if event_id not in state.takebacks and not previous.withdrawn:
                update = {"revision": previous.revision + 1, "withdrawn": True, "status": TakebackStatus.withdrawn}
                update |= NO_CLOCKS  # rules §11: a withdrawn takeback has nothing to act on
                withdrawn = previous.model_copy(update=update)
                ledger.emitted[event_id] = withdrawn
                changed.append(withdrawn)
    return changed


def _same_as_published(ledger: ProviderLedger, takeback: Takeback) -> bool:
    """Whether a derived takeback is what was last published; if so, it takes the published one's place.

    After a re-derive or a restore the two are equal objects: keeping both doubled the takebacks' memory.
    """
    previous = ledger.emitted.get(takeback.event_id)
    if previous is None or not _same_content(previous, takeback):
        return False
    takeback.revision = previous.revision
    ledger.emitted[takeback.event_id] = takeback
    return True


def _same_content(a: Takeback, b: Takeback) -> bool:
    return a.model_dump(exclude={"revision"}) == b.model_dump(exclude={"revision"})


def takebacks_of(ledger: ProviderLedger, npi: str) -> dict[str, Takeback]:
    """An NPI's published takebacks (latest revisions, withdrawn ones included): those that recovered its claims
    (``provider_id``) and those netted from its payments (``payee_provider_id``); the same for both in a ledger
    of one NPI (rules §5)."""
    if npi == ledger.provider_id:
        return ledger.emitted
    return {e: t for e, t in ledger.emitted.items() if npi in (t.provider_id, t.payee_provider_id)}


def remittances_of(ledger: ProviderLedger, npi: str) -> list[RemittanceFacts]:
    """The remittances that paid an NPI (its payee), in the order applied."""
    if npi == ledger.provider_id:
        return list(ledger.remittances.values())
    return [facts for facts in ledger.remittances.values() if facts.payee_id == npi]


def cash_row(ledger: ProviderLedger, npi: str | None = None) -> NetCashRow:
    """One payee NPI's net cash row (rules §8), with a row per payer; `npi` defaults to the ledger key."""
    return cash_rows(ledger, [npi or ledger.provider_id])[0]


def cash_rows(ledger: ProviderLedger, npis: list[str] | None = None) -> list[NetCashRow]:
    """The ledger's shares of its payee NPIs' net cash rows (rules §8), in the order given; all of them by default.
    An NPI's row is the sum of its shares in every ledger that paid it (streams/domain/cash_shares.py).

    A row counts the takebacks its NPI was paid less for (``payee_provider_id``), like its ``recouped`` column.
    Every row's revision is the number of remittances the ledger applied: a sibling's remittance can change an
    NPI's row (a takeback it nets names the NPI's claim, a re-derive), so a consumer keeping the highest revision
    needs all of a ledger's rows published after it changes (the match batch does, once per batch).
    """
    state = ledger.state()
    npis = sorted(state.cash) if npis is None else npis
    wanted = set(npis)
    by_kind: dict[str, dict[str, int]] = {npi: {} for npi in wanted}
    by_category: dict[str, dict[str, int]] = {npi: {} for npi in wanted}
    for takeback in state.takebacks.values():
        npi = takeback.payee_provider_id
        if npi in wanted:
            kinds, categories = by_kind[npi], by_category[npi]
            kinds[takeback.kind] = kinds.get(takeback.kind, 0) + 1
            categories[takeback.reason_category] = categories.get(takeback.reason_category, 0) + 1
    carried = [c for c in state.carried if c.outstanding > ZERO and c.payee_id in wanted]
    return [
        _row(ledger, npi, state.cash.get(npi) or PayeeCash(), by_kind[npi], by_category[npi], carried) for npi in npis
    ]


def _row(
    ledger: ProviderLedger,
    npi: str,
    cash: PayeeCash,
    by_kind: dict[str, int],
    by_category: dict[str, int],
    carried: list[CarriedBalance],
) -> NetCashRow:
    carried = [c for c in carried if c.payee_id == npi]
    open_dates = [c.opened for c in carried if c.opened]
    as_of = dt.date.fromisoformat(cash.last_day) if cash.last_day else None  # its latest production date
    return NetCashRow(
        provider_id=npi,
        ledger_key=ledger.provider_id,
        revision=len(ledger.remittances),
        **totals_as_fields(cash.totals),
        takebacks_by_kind=dict(sorted(by_kind.items())),
        takebacks_by_category=dict(sorted(by_category.items())),
        oldest_open_forward_balance=min(open_dates, default=None),
        open_by_age=open_by_age(((c.outstanding, c.opened) for c in carried), as_of),
        flags=dict(sorted(cash.flag_counts.items())),
        last_remittance_date=as_of,
        by_payer=[
            PayerCash(
                payer_id=payer,
                **totals_as_fields(totals),
                open_by_age=open_by_age(((c.outstanding, c.opened) for c in carried if c.payer_id == payer), as_of),
            )
            for payer, totals in sorted(cash.by_payer.items())
        ],
    )
