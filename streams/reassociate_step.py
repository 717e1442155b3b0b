"""What the reassociate agent makes of one reassociation.in message, over its table (rules §10).

A message is a fact under its route (an ERA, a deposit, a takeback), a clock tick, or a replay's marker. The
route's state and the partition's clock are read from the table and the message applied exactly as
``DepositMatcher.apply`` does. The step returns the records to publish and the table writes, which the agent makes
after publishing: a crash before the writes leaves the old state, and the redelivered message publishes the same
records with the same revisions again. A fact seen before (a redelivery after the writes) republishes the route's
current records. Plain Python over a dict-like table, so it is tested without a broker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from schemas import Reassociation
from streams.domain.bank.matcher import PartitionClock, ReassociationInput
from streams.domain.bank.reassociation import RouteState

CLOCK_KEY = b"\x00clock"  # one per partition: the table writes every key to the current event's partition


@dataclass
class StepResult:
    records: list[Reassociation] = field(default_factory=list)
    marker: str | None = None  # a replay's marker: everything before it in this partition is done
    invalid: str | None = None  # why the message could not be read (a dead letter)
    stream_time: dt.date | None = None
    writes: dict[bytes, bytes] = field(default_factory=dict)  # to store once the records are published

    def store(self, table: MutableMapping[bytes, bytes]) -> None:
        for key, value in self.writes.items():
            table[key] = value


def apply_message(table: Mapping[bytes, bytes], value: bytes, wait: int) -> StepResult:
    try:
        message = ReassociationInput.model_validate_json(value)
    except ValidationError as exc:
        return StepResult(invalid=f"The reassociation input does not match its format ({exc.error_count()} errors).")
    raw_clock = table.get(CLOCK_KEY)
    clock = PartitionClock.model_validate_json(raw_clock) if raw_clock else PartitionClock()
    result = StepResult(marker=message.marker)
    fact = message.fact
    if fact is not None and message.route is not None:
        state = _load(table, message.route)
        update = state.add(fact, clock.stream_time, wait)
        result.records += update.records
        if update.outcome == "applied":
            clock.watch(state)
            result.writes[message.route.encode()] = state.model_dump_json().encode()
    for route in clock.advance(message.date):
        state = _load(table, route, result.writes)
        result.records += state.rederive(clock.stream_time, wait)
        clock.watch(state)
        result.writes[route.encode()] = state.model_dump_json().encode()
    result.writes[CLOCK_KEY] = clock.model_dump_json().encode()
    result.stream_time = clock.stream_time
    return result


def _load(table: Mapping[bytes, bytes], route: str, pending: Mapping[bytes, bytes] | None = None) -> RouteState:
    raw = (pending or {}).get(route.encode()) or table.get(route.encode())
    return RouteState.model_validate_json(raw) if raw else RouteState(route=route)
