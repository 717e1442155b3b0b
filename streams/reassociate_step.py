"""What the reassociate agent makes of a batch of reassociation.in messages, over its table (rules §10).

A message is a fact under its route (an ERA, a deposit, a takeback), several facts under one route, a clock tick,
or a replay's marker. Each partition's clock and each route's state are read from the table once per batch, and
every message applied in order exactly as ``DepositMatcher.apply`` does. ``add`` returns a message's records to
publish; ``writes`` gives the table writes, one per changed route and partition clock, which the agent makes
after publishing the whole batch:
a crash before the writes leaves the old state, and the redelivered messages publish the same records with the
same revisions again. A fact seen before (a redelivery after the writes) republishes the route's current records.
Plain Python over a table reader, so it is tested without a broker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from schemas import Reassociation
from streams.domain.bank.matcher import PartitionClock, ReassociationInput, routed_facts
from streams.domain.bank.reassociation import RouteState

# A partition's clock is stored under CLOCK_KEY + its partition number. A key shared by every partition (what
# CLOCK_KEY alone was) is one key in a memory store, so the partitions of one worker overwrote each other's clock.
CLOCK_KEY = b"\x00clock"

TableReader = Callable[[int, bytes], bytes | None]  # (partition, key) -> the stored value, None when absent


def clock_key(partition: int) -> bytes:
    return CLOCK_KEY + b"\x00%d" % partition


def is_clock_key(key: bytes) -> bool:
    return key.startswith(CLOCK_KEY)


@dataclass
class _IndexStore:
    """A partition's index keys over the table: read once, written with the batch's other writes."""

    partition: int
    read: TableReader
    written: dict[bytes, bytes] = field(default_factory=dict)

    def get(self, key: bytes) -> bytes | None:
        return self.written[key] if key in self.written else self.read(self.partition, key)

    def put(self, key: bytes, value: bytes) -> None:
        self.written[key] = value


@dataclass
class StepResult:
    records: list[Reassociation] = field(default_factory=list)
    marker: str | None = None  # a replay's marker: everything before it in this partition is done
    invalid: str | None = None  # why the message could not be read (a dead letter)
    stream_time: dt.date | None = None


class ReassociationBatch:
    """Takes a batch's messages one by one (`add`), then hands over what to store (`writes`)."""

    def __init__(self, read: TableReader, wait: int) -> None:
        self._read = read
        self.wait = wait
        self._clocks: dict[int, PartitionClock] = {}
        self._states: dict[str, RouteState] = {}
        self._changed: dict[int, set[str]] = {}  # partition -> its routes whose state changed
        self._clock_moved: set[int] = set()
        self._indexes: dict[int, _IndexStore] = {}

    def add(self, value: bytes, partition: int) -> StepResult:
        try:
            message = ReassociationInput.model_validate_json(value)
        except ValidationError as exc:
            why = f"The reassociation input does not match its format ({exc.error_count()} errors)."
            return StepResult(invalid=why)
        clock = self._clock(partition)
        before = clock.stream_time
        result = StepResult(marker=message.marker)
        for item in message.inputs():
            result.records += self._apply(item, partition, clock)
        if clock.stream_time != before:
            self._clock_moved.add(partition)
        result.stream_time = clock.stream_time
        return result

    def _apply(self, message: ReassociationInput, partition: int, clock: PartitionClock) -> list[Reassociation]:
        records: list[Reassociation] = []
        changed = self._changed.setdefault(partition, set())
        index = self._indexes.setdefault(partition, _IndexStore(partition, self._read))
        for route, fact in routed_facts(message, partition, index):
            state = self._state(partition, route)
            update = state.add(fact, clock.stream_time, self.wait)
            records += update.records
            if update.outcome == "applied":
                clock.watch(state)
                changed.add(route)
                self._clock_moved.add(partition)
        for route in clock.advance(message.date):
            state = self._state(partition, route)
            records += state.rederive(clock.stream_time, self.wait)
            clock.watch(state)
            changed.add(route)
        return records

    def writes(self) -> dict[int, dict[bytes, bytes]]:
        """Per partition, the records to store: each changed route's state, then the partition's clock."""
        stored: dict[int, dict[bytes, bytes]] = {}
        for partition, routes in self._changed.items():
            records = {route.encode(): self._states[route].model_dump_json().encode() for route in sorted(routes)}
            records.update(sorted(self._indexes[partition].written.items()) if partition in self._indexes else [])
            if partition in self._clock_moved:
                records[clock_key(partition)] = self._clocks[partition].model_dump_json().encode()
            if records:
                stored[partition] = records
        return stored

    def _clock(self, partition: int) -> PartitionClock:
        clock = self._clocks.get(partition)
        if clock is None:
            # a table written before clocks had a key per partition holds CLOCK_KEY alone
            raw = self._read(partition, clock_key(partition)) or self._read(partition, CLOCK_KEY)
            clock = self._clocks[partition] = PartitionClock.model_validate_json(raw) if raw else PartitionClock()
        return clock

    def _state(self, partition: int, route: str) -> RouteState:
        state = self._states.get(route)
        if state is None:
            raw = self._read(partition, route.encode())
            state = self._states[route] = RouteState.model_validate_json(raw) if raw else RouteState(route=route)
        return state
