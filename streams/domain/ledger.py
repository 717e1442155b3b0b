"""A provider's ledger: which payments it received, what was taken back, where its cash stands.

This is the matching and classification core (spec §2-§5, §8), in plain code
with no Faust in sight.  The stream layer keeps one ``ProviderLedger`` per
provider in a table and calls ``apply_remittance`` once per remittance.

Design (why it is built this way):

* **Idempotent by construction.**  The ledger keeps the ids of the remittances
  it applied *in the same value* as the amounts they changed, so a remittance
  delivered twice (Kafka's at-least-once, a clearinghouse re-send in a new
  envelope) is recognised and not counted again.
* **Order independent.**  The ledger keeps the facts of every applied
  remittance and derives takebacks and cash from them in a canonical order
  (payment date, trace number, id).  A remittance that arrives in that order
  is applied incrementally (the common, cheap case); one that arrives out of
  order makes the ledger re-derive everything, so the result is the same as if
  it had arrived in order.  Takebacks whose content changed are re-emitted
  with the same ``event_id`` and a higher ``revision``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import heapq
import json
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import BaseModel, PrivateAttr

from schemas import (
    NetCashRow,
    PayerCash,
    Remittance,
    Takeback,
    TakebackKind,
    TakebackMethod,
)
from streams.domain.cash import CashTotals, totals_as_fields
from streams.domain.reasons import categorize, reason_codes_of

ZERO = Decimal("0")

# PLB codes that recover money from the provider without a stated claim reason (spec §4).
RECOVERY_CODES = frozenset({"WO", "WU", "J1"})


# --------------------------------------------------------------------------- stored facts


@dataclass(slots=True)
class ClaimFact:
    """What the ledger needs to remember of one CLP (no patient data).

    A slotted dataclass, not a model: one is built per claim on the hot path, ~10x cheaper than
    `BaseModel.model_construct` (pydantic still validates and serializes it inside the ledger).
    """

    claim_id: str
    status_code: str
    payment: Decimal
    pcn: str | None = None
    original_reference: str | None = None  # REF*F8
    reason_codes: tuple[str, ...] = ()  # tuples: a million claims of state, and most have no flags
    line_level: bool = False
    flags: tuple[str, ...] = ()


class PlbFact(BaseModel):
    provider_id: str
    reason_code: str
    reference: str | None = None
    amount: Decimal


class RemittanceFacts(BaseModel):
    """One applied remittance, reduced to what matching and cash need."""

    remittance_id: str
    trace_number: str
    payer_id: str
    moved_money: bool
    net_cash: Decimal  # BPR02, negative for a debit
    effective_date: dt.date | None = None
    takeback_date: dt.date | None = None
    claims: list[ClaimFact] = []
    adjustments: list[PlbFact] = []
    published: list[str] = []  # takeback event ids this remittance created or revised
    flags: list[str] = []
    payee_ids: list[str] = []  # the payee's NPI and TIN: PLB01 naming either is the payee itself

    def order_key(self) -> tuple[str, str, str]:
        """Canonical order: when the payment was produced, then trace, then id (ties are arbitrary but fixed).

        Numeric traces (check and EFT numbers) compare as numbers: 99871 was issued before 100342.
        """
        day = self.takeback_date or self.effective_date
        trace = self.trace_number.zfill(30) if self.trace_number.isdigit() else self.trace_number
        return (day.isoformat() if day else "", trace, self.remittance_id)


class InvalidRemittance(ValueError):
    """A remittance event that does not have the shape of the Remittance contract."""


def facts_of(remittance: Remittance) -> RemittanceFacts:
    return facts_from_dict(remittance.model_dump(mode="json"))


def facts_from_json(data: bytes) -> tuple[RemittanceFacts, dict]:
    """Facts straight from a `remittances` event, skipping a full pydantic validation.

    Ingest validated the remittance when it made it; re-validating every claim
    here cost more than all the matching (profiled: 19k claims/s against 36k).
    What the ledger reads is still checked: a malformed event raises
    InvalidRemittance and goes to the dead-letter topic.
    """
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise InvalidRemittance(f"the event is not JSON ({exc})") from None
    return facts_from_dict(document), document


def facts_from_dict(d: dict) -> RemittanceFacts:
    try:
        payment = d["payment"]
        amount = Decimal(payment["amount"])
        moved = _moved_money(payment["handling_code"], amount)
        sign = -1 if payment.get("credit_debit") == "D" else 1
        effective = _date(payment.get("effective_date"))
        payee = d["payee"]
        return RemittanceFacts.model_construct(
            remittance_id=str(d["remittance_id"]),
            trace_number=str(d["trace_number"]),
            payer_id=str(d["payer"]["id"]),
            moved_money=moved,
            net_cash=amount * sign if moved else ZERO,
            effective_date=effective,
            takeback_date=_date(d.get("production_date")) or effective,
            claims=[_claim_fact(c) for c in d.get("claims") or []],
            adjustments=[
                PlbFact.model_construct(
                    provider_id=str(a["provider_id"]),
                    reason_code=str(a["reason_code"]),
                    reference=a.get("reference"),
                    amount=Decimal(a["amount"]),
                )
                for a in d.get("provider_adjustments") or []
            ],
            published=[],
            flags=list(d.get("flags") or []),
            payee_ids=[i for i in (payee["id"], payee.get("tin")) if i],
        )
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
        raise InvalidRemittance(f"the remittance event is malformed ({type(exc).__name__}: {exc})") from None


def _claim_fact(c: dict) -> ClaimFact:
    f8 = next((r["value"] for r in c.get("references") or [] if r.get("qualifier") == "F8"), None)
    return ClaimFact(
        claim_id=str(c["claim_id"]),
        status_code=sys.intern(str(c["status_code"])),  # a handful of values, a million claims
        payment=Decimal(c["payment"]),
        pcn=c.get("payer_claim_control_number"),
        original_reference=f8,
        reason_codes=tuple(sys.intern(code) for code in reason_codes_of(c)),
        line_level=bool(c.get("service_lines")),
        flags=tuple(c.get("flags") or ()),
    )


def _date(value: str | None) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _moved_money(handling_code: str, amount: Decimal) -> bool:
    """Spec §5: C, D, U move money; I and X only when an amount is paid; H and P never."""
    if handling_code in ("C", "D", "U"):
        return True
    return handling_code in ("I", "X") and amount > ZERO


# --------------------------------------------------------------------------- derived state


@dataclass(slots=True)
class PaymentRecord:
    """A claim payment the provider received: a candidate original for later takebacks."""

    remittance: RemittanceFacts
    claim: ClaimFact
    position: int
    reversed_by: str | None = None


@dataclass
class CarriedBalance:
    """A balance the provider still owes: a negative FB, or a deferred (negative) WO."""

    payer_id: str
    reason_code: str
    tokens: frozenset[str]
    outstanding: Decimal
    opened: dt.date | None


class ClaimIndex:
    """(payer, claim key) -> the payments under it, oldest first.

    Memory matters here (one entry per claim per index, a million claims of state): keys are nested by
    payer instead of tuples, and the one payment most keys have is stored bare, not in a list.
    """

    __slots__ = ("_by_payer",)

    def __init__(self) -> None:
        self._by_payer: dict[str, dict[str, PaymentRecord | list[PaymentRecord]]] = {}

    def add(self, key: tuple[str, str], record: PaymentRecord) -> None:
        payer, claim_key = key
        records = self._by_payer.setdefault(payer, {})
        found = records.get(claim_key)
        if found is None:
            records[claim_key] = record
        elif isinstance(found, list):
            found.append(record)
        else:
            records[claim_key] = [found, record]

    def get(self, key: tuple[str, str]) -> list[PaymentRecord]:
        payer, claim_key = key
        found = self._by_payer.get(payer, {}).get(claim_key)
        if found is None:
            return []
        return found if isinstance(found, list) else [found]


@dataclass
class DerivedState:
    """Everything computed from the facts; rebuilt whenever facts arrive out of order."""

    payments_by_pcn: ClaimIndex = field(default_factory=ClaimIndex)
    payments_by_claim_id: ClaimIndex = field(default_factory=ClaimIndex)
    carried: list[CarriedBalance] = field(default_factory=list)
    takebacks: dict[str, Takeback] = field(default_factory=dict)
    # reversals waiting for their correction: event id -> arrival sequence, indexed by the keys a correction
    # can match on; and a heap of (date, sequence, event id) to flag the ones overdue
    awaiting_correction: dict[str, int] = field(default_factory=dict)
    awaiting_by_key: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    overdue_heap: list[tuple[str, int, str]] = field(default_factory=list)
    sequence: int = 0
    cash: CashTotals = field(default_factory=CashTotals)
    cash_by_payer: dict[str, CashTotals] = field(default_factory=dict)
    last_key: tuple[str, str, str] = ("", "", "")
    touched: set[str] = field(default_factory=set)  # takebacks created or changed by the last apply
    flag_counts: dict[str, int] = field(default_factory=dict)  # remittance and claim flags seen


@dataclass
class LedgerUpdate:
    """What applying one remittance produced."""

    outcome: str  # "applied" | "duplicate"
    takebacks: list[Takeback]  # new takebacks and new revisions, to publish
    cash: NetCashRow | None
    flags: list[str] = field(default_factory=list)
    deferred: bool = False  # applied, its effects come with `settle` at the end of the batch


# --------------------------------------------------------------------------- the ledger


class ProviderLedger(BaseModel):
    """The state of one provider: the facts of every remittance it applied, and what it published.

    Stored as a header plus each remittance's facts under its own key (streams/domain/ledger_records.py).
    """

    provider_id: str
    remittances: dict[str, RemittanceFacts] = {}
    emitted: dict[str, Takeback] = {}  # event_id -> latest published revision
    trace_index: dict[str, list[str]] = {}  # "payer|trace" -> remittance ids (reused TRN02 detection)

    _state: DerivedState | None = PrivateAttr(default=None)
    _pending: list[str] = PrivateAttr(default_factory=list)  # deferred out-of-order remittances (see settle)
    _unsaved: list[str] = PrivateAttr(default_factory=list)  # applied since the last store write (ledger_records)

    def take_unsaved(self) -> list[str]:
        """Remittance ids applied since the last call, for a store that writes each remittance's facts once."""
        unsaved, self._unsaved = self._unsaved, []
        return unsaved

    def mark_all_unsaved(self) -> None:
        self._unsaved = list(self.remittances)

    def state(self, policy: MatchPolicy | None = None) -> DerivedState:
        if self._state is None:
            self._state = derive(self.remittances.values(), self.provider_id, policy or MatchPolicy())
        return self._state


@dataclass(frozen=True)
class MatchPolicy:
    """Operator choices the rules leave open."""

    # Spec §5: a reversal still without its correction this long (in remittance time) is flagged.
    correction_wait_days: int = 30


def apply_remittance(
    ledger: ProviderLedger,
    remittance: Remittance | RemittanceFacts,
    policy: MatchPolicy | None = None,
    *,
    defer: bool = False,
) -> LedgerUpdate:
    """Apply one remittance to its payee's ledger; never applies the same remittance twice.

    A remittance seen before is a duplicate: nothing changes, and the events it
    produced are returned again, so a crash between saving the ledger and
    publishing its events loses nothing (consumers upsert by event id).

    A remittance that sorts before ones already applied makes the ledger
    re-derive.  With ``defer``, that waits for `settle` (once per batch), so a
    backfill of old ERAs costs one re-derivation per batch, not one per remittance;
    the update is then empty and `deferred` is true.
    """
    seen = ledger.remittances.get(remittance.remittance_id)
    if seen is not None:
        again = [ledger.emitted[e] for e in seen.published if e in ledger.emitted]
        cash = None if ledger._pending else cash_row(ledger)  # while deferring, settle brings the row
        return LedgerUpdate(outcome="duplicate", takebacks=again, cash=cash)
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
        state = derive(ledger.remittances.values(), ledger.provider_id, policy or MatchPolicy())
    except Exception:
        for remittance_id in pending:
            _roll_back(ledger, remittance_id)
        raise
    ledger._state = state
    changed = _publishable_changes(ledger, state, None)
    ledger.remittances[pending[-1]].published = [t.event_id for t in changed]
    return LedgerUpdate(outcome="applied", takebacks=changed, cash=cash_row(ledger))


def _apply_new(ledger: ProviderLedger, facts: RemittanceFacts, policy: MatchPolicy, defer: bool) -> LedgerUpdate:
    if ledger.trace_index.get(f"{facts.payer_id}|{facts.trace_number}"):
        facts.flags.append("reused_trace_number")  # spec §2: same TRN02, other body: applied and flagged
    state = None if ledger._pending else ledger.state(policy)
    ledger.remittances[facts.remittance_id] = facts
    ledger._unsaved.append(facts.remittance_id)
    ledger.trace_index.setdefault(f"{facts.payer_id}|{facts.trace_number}", []).append(facts.remittance_id)

    if state is not None and facts.order_key() >= state.last_key:
        state.touched.clear()
        Matcher(state, ledger.provider_id, policy).apply(facts)
        changed = _publishable_changes(ledger, state, state.touched)
    elif defer:  # out of order (or behind one that is): re-derive once, at the end of the batch
        ledger._pending.append(facts.remittance_id)
        return LedgerUpdate(outcome="applied", takebacks=[], cash=None, flags=list(facts.flags), deferred=True)
    else:  # arrived out of order: re-derive so the result equals an in-order run
        state = derive(ledger.remittances.values(), ledger.provider_id, policy)
        ledger._state = state
        changed = _publishable_changes(ledger, state, None)
    facts.published = [t.event_id for t in changed]
    return LedgerUpdate(outcome="applied", takebacks=changed, cash=cash_row(ledger), flags=list(facts.flags))


def _roll_back(ledger: ProviderLedger, remittance_id: str) -> None:
    """Forget a remittance that failed half-way; the derived state is rebuilt from the facts on next use."""
    if remittance_id in ledger._pending:
        ledger._pending.remove(remittance_id)
    if remittance_id in ledger._unsaved:
        ledger._unsaved.remove(remittance_id)
    facts = ledger.remittances.pop(remittance_id, None)
    if facts is not None:
        ids = ledger.trace_index.get(f"{facts.payer_id}|{facts.trace_number}", [])
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
        previous = ledger.emitted.get(event_id)
        if previous is not None and _same_content(previous, takeback):
            continue
        # The derived state's takeback is published as it is, not copied: takebacks are never changed in
        # place (a change is a new object), and one copy per takeback was a sixth of a ledger's memory.
        takeback.revision = previous.revision + 1 if previous else 1
        ledger.emitted[event_id] = takeback
        changed.append(takeback)
    if touched is None:
        for event_id, previous in ledger.emitted.items():
            if event_id not in state.takebacks and not previous.withdrawn:
                withdrawn = previous.model_copy(update={"revision": previous.revision + 1, "withdrawn": True})
                ledger.emitted[event_id] = withdrawn
                changed.append(withdrawn)
    return changed


def _same_content(a: Takeback, b: Takeback) -> bool:
    return a.model_dump(exclude={"revision"}) == b.model_dump(exclude={"revision"})


def derive(all_facts: Iterable[RemittanceFacts], provider_id: str, policy: MatchPolicy) -> DerivedState:
    state = DerivedState()
    matcher = Matcher(state, provider_id, policy)
    for facts in sorted(all_facts, key=RemittanceFacts.order_key):
        matcher.apply(facts)
    return state


def cash_row(ledger: ProviderLedger) -> NetCashRow:
    state = ledger.state()
    by_kind: dict[str, int] = {}
    by_category: dict[str, int] = {}
    for takeback in state.takebacks.values():
        by_kind[takeback.kind] = by_kind.get(takeback.kind, 0) + 1
        by_category[takeback.reason_category] = by_category.get(takeback.reason_category, 0) + 1
    open_dates = [c.opened for c in state.carried if c.outstanding > ZERO and c.opened]
    last_day = state.last_key[0]  # the latest production date applied, kept by the matcher
    return NetCashRow(
        provider_id=ledger.provider_id,
        revision=len(ledger.remittances),
        **totals_as_fields(state.cash),
        takebacks_by_kind=dict(sorted(by_kind.items())),
        takebacks_by_category=dict(sorted(by_category.items())),
        oldest_open_forward_balance=min(open_dates, default=None),
        flags=dict(sorted(state.flag_counts.items())),
        last_remittance_date=dt.date.fromisoformat(last_day) if last_day else None,
        by_payer=[
            PayerCash(payer_id=payer, **totals_as_fields(totals))
            for payer, totals in sorted(state.cash_by_payer.items())
        ],
    )


# --------------------------------------------------------------------------- matching


def is_valid_npi(value: str) -> bool:
    """An NPI is 10 digits whose last is a Luhn check digit over '80840' + the first nine (CMS)."""
    if len(value) != 10 or not value.isdigit():
        return False
    digits = [int(c) for c in "80840" + value[:9]]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if index % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return (10 - total % 10) % 10 == int(value[9])


def event_id_for(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def reference_tokens(reference: str | None) -> frozenset[str]:
    """Spec §4: a PLB reference is a set of tokens (ICN/FCN, CLP01, TRN02, patient id...)."""
    if not reference:
        return frozenset()
    whole = reference.strip()
    parts = {t for t in re.split(r"[\s,;/]+", whole) if t}
    return frozenset({whole, *parts})


class Matcher:
    """Applies remittance facts, in canonical order, to derived state."""

    def __init__(self, state: DerivedState, provider_id: str, policy: MatchPolicy) -> None:
        self.state = state
        self.provider_id = provider_id
        self.policy = policy

    # ---- entry point

    def apply(self, facts: RemittanceFacts) -> None:
        self.state.last_key = max(self.state.last_key, facts.order_key())
        self._book(facts.payer_id, "net_cash", facts.net_cash)
        for flag in [*facts.flags, *(f for claim in facts.claims for f in claim.flags)]:
            self.state.flag_counts[flag] = self.state.flag_counts.get(flag, 0) + 1
        paid = ZERO
        for position, claim in enumerate(facts.claims):
            if claim.status_code == "22" and claim.payment <= ZERO:
                self._reversal(facts, position, claim)
            else:
                self._payment(facts, position, claim)
                paid += claim.payment
        self._book(facts.payer_id, "claim_payments", paid)  # once per remittance: this loop is the hot path
        self._provider_adjustments(facts)
        self._flag_overdue_corrections()

    def _put(self, takeback: Takeback) -> None:
        self.state.takebacks[takeback.event_id] = takeback
        self.state.touched.add(takeback.event_id)

    def _flag_overdue_corrections(self) -> None:
        """Spec §5: a reversal with no correction past the wait often means a full takeback nobody chases."""
        today = self.state.last_key[0]
        if not today:
            return
        cutoff = (dt.date.fromisoformat(today) - dt.timedelta(days=self.policy.correction_wait_days)).isoformat()
        heap = self.state.overdue_heap
        while heap and heap[0][0] < cutoff:
            _, _, event_id = heapq.heappop(heap)
            if event_id in self.state.awaiting_correction:
                takeback = self.state.takebacks[event_id]
                self._put(takeback.model_copy(update={"flags": [*takeback.flags, "correction_overdue"]}))

    # ---- cash

    def _book(self, payer_id: str, bucket: str, amount: Decimal) -> None:
        if not amount:
            return
        self.state.cash.add(bucket, amount)
        self.state.cash_by_payer.setdefault(payer_id, CashTotals()).add(bucket, amount)

    # ---- claims

    def _payment(self, facts: RemittanceFacts, position: int, claim: ClaimFact) -> None:
        record = PaymentRecord(facts, claim, position)
        if claim.pcn:
            self.state.payments_by_pcn.add((facts.payer_id, claim.pcn), record)
        self.state.payments_by_claim_id.add((facts.payer_id, claim.claim_id), record)
        if claim.status_code != "22":
            self._link_correction(facts, record)

    def _reversal(self, facts: RemittanceFacts, position: int, claim: ClaimFact) -> None:
        amount = -claim.payment
        original = self._find_original(facts, claim, amount)
        kind, method = self._classify(facts, original)
        event_id = event_id_for(self.provider_id, facts.remittance_id, "claim", str(position))
        flags = list(claim.flags)
        if amount == ZERO:
            flags.append("zero_amount")
        if original is None:
            flags.append("original_not_found")
        else:
            original.reversed_by = event_id
            if original.claim.line_level and not claim.line_level:
                flags.append("claim_level_reversal_of_line_level_payment")
        takeback = Takeback(
            event_id=event_id,
            kind=kind,
            method=method,
            amount=amount,
            provider_id=self.provider_id,
            payee_provider_id=self.provider_id,
            payer_id=facts.payer_id,
            claim_id=claim.claim_id,
            payer_claim_control_number=claim.pcn,
            original_trace_number=original.remittance.trace_number if original else None,
            original_remittance_id=original.remittance.remittance_id if original else None,
            original_effective_date=original.remittance.effective_date if original else None,
            trace_number=facts.trace_number,
            remittance_id=facts.remittance_id,
            takeback_date=facts.takeback_date,
            reason_codes=claim.reason_codes,
            reason_category=categorize(claim.reason_codes, has_correction=False, plb_reason_code=None),
            flags=flags,
        )
        self._put(takeback)
        self._await_correction(takeback)
        self._book(facts.payer_id, _bucket(kind), amount)

    def _find_original(self, facts: RemittanceFacts, claim: ClaimFact, amount: Decimal) -> PaymentRecord | None:
        """Spec §3: same payer and CLP07; else REF*F8; else same CLP01 with the same amount (latest first)."""
        payer = facts.payer_id
        lookups: list[list[PaymentRecord]] = []
        if claim.pcn:
            lookups.append(self.state.payments_by_pcn.get((payer, claim.pcn)))
        if claim.original_reference:
            lookups.append(self.state.payments_by_pcn.get((payer, claim.original_reference)))
        by_claim_id = self.state.payments_by_claim_id.get((payer, claim.claim_id))
        lookups.append([p for p in by_claim_id if p.claim.payment == amount])
        for records in lookups:
            open_records = [p for p in reversed(records) if p.reversed_by is None and p.claim.status_code != "22"]
            if open_records:
                same_amount = [p for p in open_records if p.claim.payment == amount]
                return (same_amount or open_records)[0]
        return None

    @staticmethod
    def _classify(facts: RemittanceFacts, original: PaymentRecord | None) -> tuple[TakebackKind, TakebackMethod]:
        """Spec §5: recoupment when the original payment had been disbursed, else reversal."""
        if original is None:
            return TakebackKind.recoupment, TakebackMethod.offset
        paid = original.remittance
        if paid.remittance_id == facts.remittance_id or not paid.moved_money:
            return TakebackKind.reversal, TakebackMethod.none
        if paid.effective_date and facts.takeback_date and paid.effective_date > facts.takeback_date:
            return TakebackKind.reversal, TakebackMethod.none
        return TakebackKind.recoupment, TakebackMethod.offset

    def _await_correction(self, takeback: Takeback) -> None:
        state = self.state
        state.sequence += 1
        sequence = state.sequence
        state.awaiting_correction[takeback.event_id] = sequence
        keys = [("pcn", takeback.payer_claim_control_number), ("claim", takeback.claim_id)]
        for kind, value in keys:
            if value:
                state.awaiting_by_key.setdefault((takeback.payer_id, kind, value), []).append(takeback.event_id)
        if takeback.amount > ZERO and takeback.takeback_date:
            heapq.heappush(state.overdue_heap, (takeback.takeback_date.isoformat(), sequence, takeback.event_id))

    def _link_correction(self, facts: RemittanceFacts, record: PaymentRecord) -> None:
        """Spec §3: the correction follows its reversal (same remittance or later), linked by CLP07/F8/CLP01."""
        claim = record.claim
        state = self.state
        keys = [("pcn", claim.pcn), ("pcn", claim.original_reference), ("claim", claim.claim_id)]
        waiting = {
            event_id
            for kind, value in keys
            if value
            for event_id in state.awaiting_by_key.get((facts.payer_id, kind, value), ())
            if event_id in state.awaiting_correction
        }
        if waiting:
            event_id = min(waiting, key=state.awaiting_correction.__getitem__)  # the earliest reversal first
            takeback = state.takebacks[event_id]
            del state.awaiting_correction[event_id]
            codes = list(dict.fromkeys([*takeback.reason_codes, *claim.reason_codes]))
            self._put(
                takeback.model_copy(
                    update={
                        "flags": [f for f in takeback.flags if f != "correction_overdue"],
                        "correction_claim_id": claim.claim_id,
                        "correction_payment": claim.payment,
                        "net_change": claim.payment - takeback.amount,
                        "reason_codes": codes,
                        "reason_category": categorize(
                            claim.reason_codes or takeback.reason_codes, has_correction=True, plb_reason_code=None
                        ),
                    }
                )
            )

    # ---- provider-level adjustments

    def _provider_adjustments(self, facts: RemittanceFacts) -> None:
        pairs = _pair_adjustments(facts.adjustments)
        for position, adj in enumerate(facts.adjustments):
            code, amount = adj.reason_code, adj.amount
            if amount == ZERO:
                continue  # zero PLB amounts are not allowed (TR3) and change nothing
            partner = pairs.partner_of.get(position)
            if position in pairs.refunds:
                self._book(facts.payer_id, "refunds", -amount)  # money the provider already returned by check
            elif position in pairs.write_offs:
                self._book(facts.payer_id, "other_adjustments", -amount)  # the payer forgave it: no cash
            elif code == "FB":
                self._forward_balance(facts, adj)
            elif code == "WO" and amount < ZERO:
                self._carry(facts, adj)  # deferred recovery: the provider still owes it
            elif code == "WO" and partner in pairs.write_offs:
                self._write_off(facts, position, adj, forgiven=-facts.adjustments[partner].amount)
            elif code in RECOVERY_CODES and amount > ZERO:
                self._recovery(facts, position, adj, refunded=partner in pairs.refunds)
            else:
                self._book(facts.payer_id, "other_adjustments", -amount)

    def _forward_balance(self, facts: RemittanceFacts, adj: PlbFact) -> None:
        """FB never creates a takeback: a negative carries a balance forward, a positive applies it."""
        self._book(facts.payer_id, "forward_balance", -adj.amount)
        if adj.amount < ZERO:
            self._carry(facts, adj, book=False)
        else:
            self._settle(facts.payer_id, reference_tokens(adj.reference), adj.amount)

    def _carry(self, facts: RemittanceFacts, adj: PlbFact, *, book: bool = True) -> None:
        if book:
            self._book(facts.payer_id, "forward_balance", -adj.amount)
        self.state.carried.append(
            CarriedBalance(
                payer_id=facts.payer_id,
                reason_code=adj.reason_code,
                tokens=reference_tokens(adj.reference),
                outstanding=-adj.amount,
                opened=facts.takeback_date,
            )
        )

    def _write_off(self, facts: RemittanceFacts, position: int, adj: PlbFact, forgiven: Decimal) -> None:
        """Spec §4: a positive WO offset by a negative CS 'payer write off': the payer forgave (part of) it.

        The forgiven part settles what is carried under that reference (the provider no longer owes it) and is
        no takeback; a part of the WO beyond what was forgiven is recovered as usual.
        """
        forgiven = min(forgiven, adj.amount)
        left = self._settle(facts.payer_id, reference_tokens(adj.reference), forgiven)
        self._book(facts.payer_id, "forward_balance", -(forgiven - left))
        self._book(facts.payer_id, "other_adjustments", -left)
        if adj.amount > forgiven:
            rest = adj.model_copy(update={"amount": adj.amount - forgiven})
            self._recovery(facts, position, rest, refunded=False)

    def _settle(self, payer_id: str, tokens: frozenset[str], amount: Decimal) -> Decimal:
        """Reduce carried balances sharing a reference token; returns the part of `amount` left over."""
        left = amount
        for balance in self.state.carried:
            if left <= ZERO:
                break
            if balance.payer_id == payer_id and balance.outstanding > ZERO and balance.tokens & tokens:
                used = min(left, balance.outstanding)
                balance.outstanding -= used
                left -= used
        self.state.carried = [b for b in self.state.carried if b.outstanding > ZERO]
        return left

    def _recovery(self, facts: RemittanceFacts, position: int, adj: PlbFact, *, refunded: bool) -> None:
        """A positive WO/WU/J1: money recovered now; a settlement of a carried balance first (spec §4)."""
        tokens = reference_tokens(adj.reference)
        new_money = self._settle(facts.payer_id, tokens, adj.amount) if adj.reason_code == "WO" else adj.amount
        settled = adj.amount - new_money
        if settled:
            self._book(facts.payer_id, "forward_balance", -settled)
        if new_money <= ZERO:
            return
        linked = self._claim_named_by(facts.payer_id, tokens)
        flags = [] if settled == ZERO else ["partly_settles_carried_balance"]
        # Spec §5: PLB01 may name another provider (offsets across NPIs of one TIN): when the recovered claim
        # is not one of this payee's, attribute the takeback to PLB01's provider and report both.  Payers also
        # put their own provider numbers in PLB01, so only a valid NPI other than the payee's counts.
        attributed = self.provider_id
        if linked is None and adj.provider_id not in facts.payee_ids and is_valid_npi(adj.provider_id):
            attributed = adj.provider_id
            flags.append("offset_against_other_provider")
        event_id = event_id_for(self.provider_id, facts.remittance_id, "plb", str(position))
        takeback = Takeback(
            event_id=event_id,
            kind=TakebackKind.recoupment,
            method=TakebackMethod.refund if refunded else TakebackMethod.offset,
            amount=new_money,
            provider_id=attributed,
            payee_provider_id=self.provider_id,
            payer_id=facts.payer_id,
            claim_id=linked.claim.claim_id if linked else None,
            payer_claim_control_number=linked.claim.pcn if linked else None,
            original_trace_number=linked.remittance.trace_number if linked else None,
            original_remittance_id=linked.remittance.remittance_id if linked else None,
            original_effective_date=linked.remittance.effective_date if linked else None,
            trace_number=facts.trace_number,
            remittance_id=facts.remittance_id,
            takeback_date=facts.takeback_date,
            plb_reason_code=adj.reason_code,
            plb_reference=adj.reference,
            reason_codes=[adj.reason_code],
            reason_category=categorize([], has_correction=False, plb_reason_code=adj.reason_code),
            flags=flags,
        )
        self._put(takeback)
        self._book(facts.payer_id, "recouped", new_money)

    def _claim_named_by(self, payer_id: str, tokens: frozenset[str]) -> PaymentRecord | None:
        """The latest payment whose CLP07, else CLP01, is one of the reference tokens."""
        for index in (self.state.payments_by_pcn, self.state.payments_by_claim_id):
            records = [r for token in sorted(tokens) for r in index.get((payer_id, token))]
            if records:
                return max(records, key=lambda r: (r.remittance.order_key(), r.position))
        return None


@dataclass
class AdjustmentPairs:
    """Which PLB amounts of one remittance offset each other (spec §4), by position."""

    refunds: set[int] = field(default_factory=set)  # 72 or B2 that pays back a WO/FB: settled by refund
    write_offs: set[int] = field(default_factory=set)  # CS forgiving a WO
    partner_of: dict[int, int] = field(default_factory=dict)  # WO/FB position -> its 72/B2/CS position


WRITE_OFF_WORDS = ("WRITE OFF", "WRITEOFF", "WRITE-OFF", "W/O")


def _pair_adjustments(adjustments: list[PlbFact]) -> AdjustmentPairs:
    """Pair each positive WO (or FB, for B2) with a negative 72/B2/CS sharing a reference token.

    72 + WO and B2 + WO/FB: the provider paid by check (refund).  CS "payer write off" + WO: forgiven.
    """
    pairs = AdjustmentPairs()
    offsets = [
        (i, a, reference_tokens(a.reference))
        for i, a in enumerate(adjustments)
        if a.reason_code in ("72", "B2", "CS") and a.amount < ZERO
    ]
    for i, adj in enumerate(adjustments):
        if adj.reason_code not in ("WO", "FB") or adj.amount <= ZERO:
            continue
        tokens = reference_tokens(adj.reference)
        for j, other, other_tokens in offsets:
            if j in pairs.refunds or j in pairs.write_offs:
                continue
            if other.reason_code == "CS":
                if adj.reason_code == "WO" and _is_write_off(other):  # "PAYER WRITE OFF" names no claim
                    pairs.write_offs.add(j)
                    pairs.partner_of[i] = j
                    break
            elif tokens & other_tokens and (other.reason_code == "B2" or adj.reason_code == "WO"):
                pairs.refunds.add(j)
                pairs.partner_of[i] = j
                break
    return pairs


def _is_write_off(adj: PlbFact) -> bool:
    reference = (adj.reference or "").upper()
    return any(word in reference for word in WRITE_OFF_WORDS)


def _bucket(kind: TakebackKind) -> str:
    return "reversed" if kind == TakebackKind.reversal else "recouped"
