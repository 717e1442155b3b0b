"""Reassociation over many routes: the routes' states, stream time, and when awaiting records fall due.

``PartitionClock`` is what a stream worker keeps per partition: the stream time its inputs have shown and the
routes with awaiting records, by due date. ``ReassociationInput`` is a fact as it travels to the worker that
owns its route, or a clock tick (a date another input showed, sent to every partition so that stream time is
the same everywhere). ``DepositMatcher`` composes them in memory: the offline path and the tests, and the same
steps the stream agent takes.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Iterable
from typing import Protocol

from pydantic import BaseModel, TypeAdapter

from schemas import Deposit, Reassociation, Remittance, Takeback
from streams.domain.bank.reassociation import (
    DEFAULT_WAIT_BUSINESS_DAYS,
    EraFact,
    Fact,
    MatchUpdate,
    RouteState,
    TakebackFact,
    fact_of,
    route_of,
)
from streams.domain.disbursement import takeback_date


class ReassociationInput(BaseModel):
    """One message for the reassociation step: a fact under its route, a clock tick (route null), or several facts
    under one route (`items`, applied in order: a remittance's takebacks travel as one message)."""

    route: str | None = None
    era: EraFact | None = None
    deposit: Deposit | None = None
    takeback: TakebackFact | None = None
    date: dt.date | None = None  # the date the input showed: stream time moves to it
    marker: str | None = None  # a replay's marker: the worker confirms it once everything before it is done
    items: list[ReassociationInput] = []

    @classmethod
    def grouped(cls, inputs: Iterable[ReassociationInput]) -> list[ReassociationInput]:
        """The inputs as one message per route, in the order each route first appears (a route's own in order)."""
        by_route: dict[str | None, list[ReassociationInput]] = {}
        for item in inputs:
            by_route.setdefault(item.route, []).append(item)
        return [group[0] if len(group) == 1 else cls(route=route, items=group) for route, group in by_route.items()]

    def inputs(self) -> list[ReassociationInput]:
        """What the message holds, one input at a time."""
        return self.items or [self]

    @classmethod
    def of(cls, item: Remittance | Deposit | Takeback) -> ReassociationInput:
        fact = fact_of(item)
        date = None
        if isinstance(item, Remittance):  # the date an ERA shows is the day it was produced (rules §5)
            date = takeback_date(item.production_date, item.payment.effective_date)
        if isinstance(fact, Deposit):
            date = fact.deposit_date
        slot = {EraFact: "era", Deposit: "deposit", TakebackFact: "takeback"}[type(fact)]
        route = None if isinstance(fact, Deposit) and fact.is_return else route_of(fact)  # returns: every partition
        return cls(route=route, date=date, **{slot: fact})

    @property
    def to_every_partition(self) -> bool:
        """A clock tick, or a NACHA return (it finds its credit through each partition's index)."""
        return self.route is None

    @classmethod
    def tick(cls, date: dt.date) -> ReassociationInput:
        return cls(date=date)

    @property
    def key(self) -> bytes:
        """The message key: its route, so a payment's facts meet in one partition (ticks go to every one)."""
        return (self.route or "").encode()

    @property
    def fact(self) -> Fact | None:
        return self.era or self.deposit or self.takeback


# Keys of a partition's own records next to its routes (routes are traces: they never start with NUL).
INTERNAL_PREFIX = b"\x00"
_ENTRY_INDEX = b"\x00entry\x00"  # + partition + entry trace: the routes holding a NACHA deposit of that entry
_RETURN_INDEX = b"\x00return\x00"  # + partition + entry trace: the returns of that entry this partition saw
_RETURNS = TypeAdapter(list[Deposit])


class PartitionStore(Protocol):
    """A partition's key-value state (a dict in memory, the table in the stream)."""

    def get(self, key: bytes) -> bytes | None: ...

    def put(self, key: bytes, value: bytes) -> None: ...


def is_internal_key(key: bytes) -> bool:
    """A partition's clock or index, not a route."""
    return key.startswith(INTERNAL_PREFIX)


def routed_facts(message: ReassociationInput, partition: int, store: PartitionStore) -> list[tuple[str, Fact]]:
    """The facts one input brings, each under the route it belongs to.

    A NACHA return carries no TRN, only the trace number of the entry it returns: it goes to every partition
    (``ReassociationInput.of`` gives it no route), and each partition keeps it under that entry and hands it to
    the routes holding a deposit of that entry, now or when one arrives. So a return may come before or after
    its credit, and a fact seen again adds nothing to the index."""
    fact = message.fact
    if isinstance(fact, Deposit) and fact.is_return:
        entry = (fact.returned_trace or "").encode()
        returns = _returns(store, partition, entry)
        if all(r.deposit_id != fact.deposit_id for r in returns):
            store.put(_index(_RETURN_INDEX, partition, entry), _RETURNS.dump_json([*returns, fact]))
        routes = json.loads(store.get(_index(_ENTRY_INDEX, partition, entry)) or b"[]")
        return [(route, fact) for route in routes]
    if fact is None or message.route is None:
        return []
    facts: list[tuple[str, Fact]] = [(message.route, fact)]
    if isinstance(fact, Deposit) and fact.format == "nacha" and fact.bank_reference:
        entry = fact.bank_reference.encode()
        raw = store.get(_index(_ENTRY_INDEX, partition, entry))
        routes = json.loads(raw) if raw else []
        if message.route not in routes:
            store.put(_index(_ENTRY_INDEX, partition, entry), json.dumps([*routes, message.route]).encode())
        facts += [(message.route, returned) for returned in _returns(store, partition, entry)]
    return facts


def _returns(store: PartitionStore, partition: int, entry: bytes) -> list[Deposit]:
    raw = store.get(_index(_RETURN_INDEX, partition, entry))
    return _RETURNS.validate_json(raw) if raw else []


def _index(prefix: bytes, partition: int, entry: bytes) -> bytes:
    return prefix + b"%d\x00" % partition + entry


class PartitionClock(BaseModel):
    """Stream time of one partition, and the routes whose awaiting records fall due, by due date."""

    stream_time: dt.date | None = None
    due: list[tuple[dt.date, str]] = []  # sorted; a route may appear more than once (harmless)

    def watch(self, state: RouteState) -> None:
        for date in state.due_dates():
            bisect.insort(self.due, (date, state.route))

    def advance(self, date: dt.date | None) -> list[str]:
        """Move stream time to `date` (never back); the routes that fell due, each once, in due order."""
        if date is None or (self.stream_time is not None and date <= self.stream_time):
            return []
        self.stream_time = date
        cut = bisect.bisect_left(self.due, (date, ""))
        fallen, self.due = self.due[:cut], self.due[cut:]
        return list(dict.fromkeys(route for _, route in fallen))


class DepositMatcher:
    """Reassociation in memory, one partition: what the stream agent does, without a broker."""

    def __init__(self, wait_business_days: int = DEFAULT_WAIT_BUSINESS_DAYS) -> None:
        self.wait = wait_business_days
        self.routes: dict[str, RouteState] = {}
        self.clock = PartitionClock()
        self.index = _DictStore()

    @property
    def stream_time(self) -> dt.date | None:
        return self.clock.stream_time

    def add_remittance(self, remittance: Remittance) -> MatchUpdate:
        return self.apply(ReassociationInput.of(remittance))

    def add_deposit(self, deposit: Deposit) -> MatchUpdate:
        return self.apply(ReassociationInput.of(deposit))

    def add_takeback(self, takeback: Takeback) -> MatchUpdate:
        """A takeback (any revision): it may explain an amount mismatch of the remittance carrying it."""
        return self.apply(ReassociationInput.of(takeback))

    def advance_to(self, date: dt.date) -> list[Reassociation]:
        """Stream time moves on (another input showed a later date): records that fall due change."""
        return self.apply(ReassociationInput.tick(date)).records

    def apply(self, message: ReassociationInput) -> MatchUpdate:
        """One message: store its fact and re-derive its route, then let stream time fall due."""
        if message.items:
            updates = [self.apply(item) for item in message.items]
            outcome = "applied" if any(u.outcome == "applied" for u in updates) else "duplicate"
            return MatchUpdate(outcome, [record for u in updates for record in u.records])
        update = MatchUpdate("applied", [])
        facts = routed_facts(message, 0, self.index)
        for route, fact in facts:
            state = self.routes.setdefault(route, RouteState(route=route))
            added = state.add(fact, self.clock.stream_time, self.wait)
            if added.outcome == "duplicate" and fact is message.fact and message.route is not None:
                return added
            update.records += added.records
            self.clock.watch(state)
        for route in self.clock.advance(message.date):
            state = self.routes[route]
            update.records += state.rederive(self.clock.stream_time, self.wait)
            self.clock.watch(state)
        return update

    def current(self) -> list[Reassociation]:
        return [record for state in self.routes.values() for record in state.records.values()]


class _DictStore(dict[bytes, bytes]):
    def put(self, key: bytes, value: bytes) -> None:
        self[key] = value
