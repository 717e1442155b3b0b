"""What the reassociate agent makes of one reassociation.in message, over its table (rules §10).

A message is a fact under its route (an ERA, a deposit, a takeback), a clock tick, or a replay's marker. The
route's state and the partition's clock are read from the table, the message applied exactly as
``DepositMatcher.apply`` does, and what changed written back. The records to publish are returned: on a fact
seen before (a redelivery) the route's current records, with their revisions, so a crash between storing and
publishing loses nothing. Plain Python over a dict-like table, so it is tested without a broker.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import MutableMapping
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


def apply_message(table: MutableMapping[bytes, bytes], value: bytes, wait: int) -> StepResult:
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
            table[message.route.encode()] = state.model_dump_json().encode()
    for route in clock.advance(message.date):
        state = _load(table, route)
        result.records += state.rederive(clock.stream_time, wait)
        clock.watch(state)
        table[route.encode()] = state.model_dump_json().encode()
    table[CLOCK_KEY] = clock.model_dump_json().encode()
    result.stream_time = clock.stream_time
    return result


def _load(table: MutableMapping[bytes, bytes], route: str) -> RouteState:
    raw = table.get(route.encode())
    return RouteState.model_validate_json(raw) if raw else RouteState(route=route)
