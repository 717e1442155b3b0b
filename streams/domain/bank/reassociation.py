"""Match ERAs to the money in the bank (reassociation, rules §10).

A remittance and a deposit belong together when they carry the same TRN02 (the EFT number) and TRN03
(the payer's id); a check payment (BPR04 CHK) and a check deposit when the check number is TRN02 and the
amounts agree (a check number is unique for one payer only: two payers' check 5001 are two payments). Money
is signed as the provider's account moves: a debit ERA (BPR03 D) expects a bank debit, never a deposit. For
each such payment the matcher keeps one ``Reassociation`` record, and one more per extra deposit:

* ``matched``: the deposit is the ERA's BPR02; ``amount_mismatch``: it is not, with the difference
  (deposit - ERA) and the remittance's takebacks whose amounts make it up, when some do;
* ``era_without_deposit`` / ``deposit_without_era``: the other side is N business days late (default 3),
  counted in stream time (the latest date the inputs have shown: a remittance's production date, a
  deposit's date), so a replay gives the same answer whenever it runs; before that, ``awaiting_*``;
* ``duplicate_deposit``: a second bank entry for a payment already deposited (of several, the one of the
  ERA's amount is the match, whatever its date);
* ``deposit_returned``: a credit a NACHA return took back: it pays nothing, and its ERA waits again.

Non-payment remittances (BPR01 H, BPR02 0: nothing moved) expect no deposit and make no record of their
own. Remittances that are one payment re-issued (same payee, amount and BPR16, rules §2) count once;
several payments under one trace (a split ERA) add up.

Records are derived from all the facts of their payment, so the result does not depend on the order
facts arrive in; a fact seen again changes nothing (idempotent). A record whose content changes gets
the next ``revision``; consumers upsert by ``event_id``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from schemas import ZERO, Deposit, Reassociation, ReassociationStatus, Remittance, Takeback
from streams.domain.bank.business_days import add_business_days, business_days_between
from streams.domain.disbursement import moves_money, signed_amount
from streams.domain.ids import stable_id

DEFAULT_WAIT_BUSINESS_DAYS = 3  # CAQH CORE: ERA and EFT within three business days of each other
MAX_EXPLAINING_TAKEBACKS = 12  # subsets of more takebacks are not searched (2^12 sums at most)
Status = ReassociationStatus

MatchKey = tuple[str, str, str]  # (ACH | CHK | NOTRN, payer id, trace or check number or deposit id)


class EraFact(BaseModel):
    """What matching needs of a remittance."""

    model_config = ConfigDict(frozen=True)

    remittance_id: str
    provider_id: str
    payer_id: str
    trace_number: str
    amount: Decimal  # signed: negative for a debit ERA (BPR03 D)
    moved_money: bool
    method: Literal["ACH", "CHK"]
    effective_date: dt.date | None
    production_date: dt.date | None

    @classmethod
    def of(cls, remittance: Remittance) -> EraFact:
        return cls(
            remittance_id=remittance.remittance_id,
            provider_id=remittance.provider_id,
            payer_id=remittance.payer.id.strip(),
            trace_number=remittance.trace_number.strip(),
            amount=signed_amount(remittance.payment.amount, remittance.payment.credit_debit),
            moved_money=moves_money(remittance.payment.handling_code, remittance.payment.amount),
            method="CHK" if (remittance.payment.method or "").upper() == "CHK" else "ACH",
            effective_date=remittance.payment.effective_date,
            production_date=remittance.production_date,
        )

    @property
    def key(self) -> MatchKey:
        return (self.method, "" if self.method == "CHK" else self.payer_id, self.trace_number)

    @property
    def expects_deposit(self) -> bool:
        """Money moved (BPR01 C, D, U; I or X with an amount): a bank entry of `amount` should follow, a
        credit, or a debit for a debit ERA (BPR03 D, negative). A zero amount (non-compliant with C, rules §7)
        has nothing to deposit."""
        return self.moved_money and self.amount != ZERO

    @property
    def expected_date(self) -> dt.date | None:
        return self.effective_date or self.production_date


class TakebackFact(BaseModel):
    """What matching needs of a takeback: it may explain an amount mismatch of the remittance carrying it."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    revision: int
    remittance_id: str
    trace_number: str = ""
    amount: Decimal
    withdrawn: bool

    @classmethod
    def of(cls, takeback: Takeback) -> TakebackFact:
        return cls(
            event_id=takeback.event_id,
            revision=takeback.revision,
            remittance_id=takeback.remittance_id,
            trace_number=takeback.trace_number.strip(),
            amount=takeback.amount,
            withdrawn=takeback.withdrawn,
        )


def deposit_key(deposit: Deposit) -> MatchKey:
    if deposit.method == "CHK" and deposit.check_number:
        return ("CHK", "", deposit.check_number.strip())
    if deposit.trace_number and deposit.payer_id:
        return ("ACH", deposit.payer_id.strip(), deposit.trace_number.strip())
    return ("NOTRN", "", deposit.deposit_id)  # money nobody can reassociate: matched by no ERA


Fact = EraFact | Deposit | TakebackFact


def fact_of(item: Remittance | Deposit | Takeback | Fact) -> Fact:
    if isinstance(item, Remittance):
        return EraFact.of(item)
    if isinstance(item, Takeback):
        return TakebackFact.of(item)
    return item


def route_of(item: Remittance | Deposit | Takeback | Fact) -> str:
    """The trace (TRN02 or check number) a fact belongs under: everything that can match shares it, so a
    stream keyed by it brings a payment's ERAs, deposits and takebacks to one worker."""
    if isinstance(item, Deposit):
        return deposit_key(item)[2]
    return item.trace_number.strip()


@dataclass
class MatchUpdate:
    outcome: Literal["applied", "duplicate"]
    records: list[Reassociation]  # changed records (applied), or the route's current ones (duplicate)


class RouteState(BaseModel):
    """Everything known under one route (a TRN02 or check number): its facts and their latest records.

    The unit a stream worker stores (as JSON) and re-derives; plain data, no clock of its own."""

    route: str
    eras: dict[str, EraFact] = {}  # remittance id -> fact
    deposits: dict[str, Deposit] = {}  # deposit id -> deposit
    returns: dict[str, Deposit] = {}  # deposit id -> a NACHA return of an entry deposited under this route
    takebacks: dict[str, TakebackFact] = {}  # event id -> latest revision
    records: dict[str, Reassociation] = {}  # event id -> latest revision

    def add(self, item: Remittance | Deposit | Takeback | Fact, stream_time: dt.date | None, wait: int) -> MatchUpdate:
        """Take one fact (idempotent: a fact seen before is a duplicate and changes nothing)."""
        if not self._store(fact_of(item)):
            return MatchUpdate("duplicate", list(self.records.values()))
        return MatchUpdate("applied", self.rederive(stream_time, wait))

    def _store(self, fact: Fact) -> bool:
        if isinstance(fact, EraFact):
            if fact.remittance_id in self.eras:
                return False
            self.eras[fact.remittance_id] = fact
        elif isinstance(fact, Deposit):
            kept = self.returns if fact.is_return else self.deposits
            if fact.deposit_id in kept:
                return False
            kept[fact.deposit_id] = fact
        else:
            known = self.takebacks.get(fact.event_id)
            if known is not None and known.revision >= fact.revision:
                return False
            self.takebacks[fact.event_id] = fact
        return True

    def rederive(self, stream_time: dt.date | None, wait: int) -> list[Reassociation]:
        """Derive every record from the facts; store and return those whose content changed (next revision)."""
        by_key: dict[MatchKey, _Payment] = {}
        for era in self.eras.values():
            by_key.setdefault(era.key, _Payment()).eras[era.remittance_id] = era
        for deposit in self.deposits.values():
            by_key.setdefault(deposit_key(deposit), _Payment()).deposits[deposit.deposit_id] = deposit
        takebacks: dict[str, dict[str, TakebackFact]] = {}
        for takeback in self.takebacks.values():
            takebacks.setdefault(takeback.remittance_id, {})[takeback.event_id] = takeback
        changed = []
        for key in sorted(by_key):
            by_key[key].returns = self.returns
            for record in derive(key, by_key[key], takebacks, stream_time, wait):
                old = self.records.get(record.event_id)
                if old is not None and old.model_dump(exclude={"revision"}) == record.model_dump(exclude={"revision"}):
                    continue
                record.revision = old.revision + 1 if old else 1
                self.records[record.event_id] = record
                changed.append(record)
        return changed

    def due_dates(self) -> list[dt.date]:
        """When this route's awaiting records fall due (stream time past them changes their status)."""
        waiting = (Status.awaiting_deposit, Status.awaiting_era)
        return [r.due_date for r in self.records.values() if r.status in waiting and r.due_date]


@dataclass
class _Payment:
    """The facts of one payment key."""

    eras: dict[str, EraFact] = field(default_factory=dict)
    deposits: dict[str, Deposit] = field(default_factory=dict)
    returns: dict[str, Deposit] = field(default_factory=dict)  # the route's NACHA returns (they carry no TRN)


# --------------------------------------------------------------------------- derivation (pure)


def derive(
    key: MatchKey,
    payment: _Payment,
    takebacks: dict[str, dict[str, TakebackFact]],
    stream_time: dt.date | None,
    wait: int,
) -> list[Reassociation]:
    """Every record of one payment key, from all its facts (revision left at 1).

    Records are numbered in a fixed order (ERA payments, then deposits no payment takes, duplicates, returned
    deposits): the first gets the key's own event id, the n-th one made of the key and n. Their count never
    shrinks as facts arrive, so every arrival order ends with the same event ids and no record left over."""
    eras = sorted(payment.eras.values(), key=lambda e: (e.production_date or dt.date.min, e.remittance_id))
    deposits = sorted(payment.deposits.values(), key=lambda d: (d.deposit_date or dt.date.min, d.deposit_id))
    returned = {d.deposit_id: r for d in deposits for r in payment.returns.values() if _cancels(r, d)}
    live = [d for d in deposits if d.deposit_id not in returned]
    payers = _by_payer(key, eras)
    paying = [_distinct_payments(e for e in group if e.expects_deposit) for group in payers]
    primaries = _assign(paying, live)
    records: list[Reassociation] = []
    for group, pays, deposit in zip(payers, paying, primaries, strict=True):
        if pays or deposit is not None:
            records.append(_payment_record(key, group, pays, deposit, takebacks, stream_time, wait))
    taken = {d.deposit_id for d in primaries if d is not None}
    for deposit in (d for d in live if d.deposit_id not in taken):
        records.append(_leftover(key, records, deposit, stream_time, wait))
    for deposit in (d for d in deposits if d.deposit_id in returned):
        cancelled = _with_deposit(_unknown_payment(key, deposit, records), deposit)
        update = {"status": Status.deposit_returned, "return_reason": returned[deposit.deposit_id].return_reason}
        records.append(cancelled.model_copy(update=update))
    for number, record in enumerate(records):  # each record is a copy made here: set in place
        record.event_id = stable_id("reassociation", *key, *([number] if number else []))
    return records


def _by_payer(key: MatchKey, eras: list[EraFact]) -> list[list[EraFact]]:
    """The key's ERAs as payments: one under an ACH trace (its payer is part of the key); under a check number,
    one per payer, since check numbers are unique per payer only (two payers' check 5001 are two payments)."""
    if key[0] != "CHK":
        return [eras] if eras else []
    groups: dict[str, list[EraFact]] = {}
    for era in eras:
        groups.setdefault(era.payer_id, []).append(era)
    return [groups[payer] for payer in sorted(groups)]


def _assign(paying: list[list[EraFact]], deposits: list[Deposit]) -> list[Deposit | None]:
    """Each payment's deposit: the earliest one of its amount (of several deposits of one trace, the one whose
    amount matches is the match). Under an ACH trace, a payment with none of its amount takes the earliest
    deposit (an amount mismatch); a check deposit is a payment's only when its amount agrees, unless the number
    names one payment alone."""
    free = list(deposits)
    chosen: list[Deposit | None] = []
    for pays in paying:
        amount = sum((e.amount for e in pays), ZERO)
        deposit = next((d for d in free if pays and d.amount == amount), None)
        if deposit is not None:
            free.remove(deposit)
        chosen.append(deposit)
    if len(chosen) == 1 and chosen[0] is None and free:
        chosen[0] = free.pop(0)
    return chosen


def _payment_record(
    key: MatchKey,
    eras: list[EraFact],
    paying: list[EraFact],
    deposit: Deposit | None,
    takebacks: dict[str, dict[str, TakebackFact]],
    stream_time: dt.date | None,
    wait: int,
) -> Reassociation:
    method, _, trace = key
    first = (paying or eras)[0]
    base = Reassociation(
        event_id="",
        status=Status.awaiting_deposit,
        payment_method="CHK" if method == "CHK" else "ACH",
        provider_id=first.provider_id,
        payer_id=first.payer_id or None,
        trace_number=trace,
        remittance_id=first.remittance_id,
        remittance_ids=[e.remittance_id for e in eras],
        era_amount=sum((e.amount for e in paying), ZERO),
        effective_date=first.effective_date,
    )
    if len(paying) > 1:
        base = _with_flags(base, "split_era")
    if deposit is None:
        expected = min(e.expected_date or dt.date.max for e in paying)
        return _awaiting(base, expected, Status.era_without_deposit, stream_time, wait)
    return _compared(_with_deposit(base, deposit), paying, takebacks, wait)


def _leftover(
    key: MatchKey, records: list[Reassociation], deposit: Deposit, stream_time: dt.date | None, wait: int
) -> Reassociation:
    """A deposit no payment took: a duplicate of the payment it repeats, else money waiting for its ERA."""
    owner = _duplicated(key, records, deposit)
    if owner is None:
        base = _unknown_payment(key, deposit, records)
        return _awaiting(base, deposit.deposit_date or dt.date.max, Status.deposit_without_era, stream_time, wait)
    duplicate = _with_deposit(_without_deposit(owner), deposit)
    return duplicate.model_copy(update={"status": Status.duplicate_deposit})


def _duplicated(key: MatchKey, records: list[Reassociation], deposit: Deposit) -> Reassociation | None:
    """The payment record a deposit no payment took duplicates: under an ACH trace, its payment's (the first
    record); under a check number, a deposited payment of the same amount; else None (money of no known ERA)."""
    deposited = [r for r in records if r.deposit_id is not None]
    if key[0] != "CHK":
        return deposited[0] if deposited else None
    return next((r for r in deposited if r.deposit_amount == deposit.amount), None)


def _unknown_payment(key: MatchKey, deposit: Deposit, records: list[Reassociation]) -> Reassociation:
    """A record for a deposit without its payment: under an ACH trace it still names the trace's ERA, if known."""
    method, payer_id, trace = key
    known = records[0] if method == "ACH" and records and records[0].remittance_id else None
    if known is not None:
        return _without_deposit(known).model_copy(update={"status": Status.awaiting_era})
    return _with_deposit(
        Reassociation(
            event_id="",
            status=Status.awaiting_era,
            payment_method="CHK" if method == "CHK" else "ACH",
            payer_id=payer_id or None,
            trace_number=trace if method != "NOTRN" else None,
        ),
        deposit,
    )


def _without_deposit(record: Reassociation) -> Reassociation:
    """A payment record's ERA side alone."""
    return record.model_copy(
        update={
            "deposit_id": None,
            "deposit_amount": None,
            "deposit_date": None,
            "deposit_source": None,
            "difference": None,
            "due_date": None,
            "explained_by": [],
            "flags": [f for f in record.flags if f == "split_era"],
        }
    )


def _cancels(returned: Deposit, deposit: Deposit) -> bool:
    """A NACHA return takes back the entry it names, for that entry's amount."""
    return (
        deposit.format == "nacha"
        and deposit.bank_reference == returned.returned_trace
        and (deposit.amount == -returned.amount)
    )


def _distinct_payments(eras: Iterable[EraFact]) -> list[EraFact]:
    """Remittances that are one payment re-issued (same payee, amount, BPR16: rules §2) count once."""
    seen: dict[tuple[str, Decimal, dt.date | None], EraFact] = {}
    for era in eras:
        seen.setdefault((era.provider_id, era.amount, era.effective_date), era)
    return list(seen.values())


def _with_flags(record: Reassociation, *flags: str) -> Reassociation:
    return record.model_copy(update={"flags": sorted({*record.flags, *flags})})


def _with_deposit(record: Reassociation, deposit: Deposit) -> Reassociation:
    return record.model_copy(
        update={
            "deposit_id": deposit.deposit_id,
            "deposit_amount": deposit.amount,
            "deposit_date": deposit.deposit_date,
            "deposit_source": deposit.source,
            "flags": sorted({*record.flags, *deposit.flags}),
        }
    )


def _awaiting(
    record: Reassociation, since: dt.date, overdue: Status, stream_time: dt.date | None, wait: int
) -> Reassociation:
    """Waiting for the other side until `wait` business days after `since`; overdue after that."""
    if since == dt.date.max:
        return _with_flags(record, "no_date")
    due = add_business_days(since, wait)
    late = stream_time is not None and stream_time > due
    waiting = Status.awaiting_deposit if overdue == Status.era_without_deposit else Status.awaiting_era
    return record.model_copy(update={"status": overdue if late else waiting, "due_date": due})


def _compared(
    record: Reassociation, paying: list[EraFact], takebacks: dict[str, dict[str, TakebackFact]], wait: int
) -> Reassociation:
    era_amount = record.era_amount or ZERO
    difference = (record.deposit_amount or ZERO) - era_amount
    if not paying:
        record = _with_flags(record, "era_moved_no_money")
    dates = (record.effective_date, record.deposit_date)
    if dates[0] and dates[1] and abs(business_days_between(dates[0], dates[1])) > wait:
        record = _with_flags(record, "date_outside_window")
    update: dict[str, object] = {"difference": difference, "due_date": None}
    if difference == ZERO:
        update["status"] = Status.matched
    else:
        update["status"] = Status.amount_mismatch
        live = [t for rid in record.remittance_ids for t in takebacks.get(rid, {}).values() if not t.withdrawn]
        update["explained_by"] = explaining_takebacks(abs(difference), live)
    return record.model_copy(update=update)


def explaining_takebacks(target: Decimal, takebacks: list[TakebackFact]) -> list[str]:
    """The smallest set of takebacks whose amounts add up to `target` (event ids, sorted), else []."""
    candidates = sorted(takebacks, key=lambda t: (t.amount, t.event_id))[:MAX_EXPLAINING_TAKEBACKS]
    for size in range(1, len(candidates) + 1):
        for combination in itertools.combinations(candidates, size):
            if sum((t.amount for t in combination), ZERO) == target:
                return sorted(t.event_id for t in combination)
    return []
