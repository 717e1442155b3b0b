"""Building the event models from values the reader already parsed and typed, without pydantic re-validating them.

The reader is the validator: it parses every value into its final Python type, so validating again
would only cost time on large files (docs/benchmarks.md). A unit test round-trips remittances through
JSON validation to prove the types are right, and `fast_path_works` guards pydantic upgrades.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from schemas.events import Adjustment, AmountRef, ClaimPayment, DateRef, Event, Reference, ServiceLine

Builder = Callable[[dict[str, Any]], Any]


def _fast_factory(cls: type[Event]) -> Builder:
    """A builder doing what ``model_construct`` does for these models (no aliases, defaults,
    validators or private attributes) without its per-field loop: ``values`` must hold every
    field, in declaration order, already of the right type.

    All fields are always set, so instances can share one fields-set (pydantic only ever adds
    field names to it, which are already there)."""
    fields_set = set(cls.model_fields)
    new = object.__new__
    set_ = object.__setattr__

    def build(values: dict[str, Any]) -> Any:
        model = new(cls)
        set_(model, "__dict__", values)
        set_(model, "__pydantic_fields_set__", fields_set)
        set_(model, "__pydantic_extra__", None)
        set_(model, "__pydantic_private__", None)
        return model

    return build


def _slow_factory(cls: type[Event]) -> Builder:
    return lambda values: cls.model_construct(**values)


def fast_path_works() -> bool:
    """The fast builder must produce exactly what pydantic produces (guards pydantic upgrades)."""
    try:
        values = {"group": "CO", "reason": "45", "amount": Decimal("1.50"), "quantity": None}
        fast = _fast_factory(Adjustment)(dict(values))
        slow = Adjustment.model_construct(**values)
        return (
            fast == slow == Adjustment(**values)
            and fast.model_fields_set == slow.model_fields_set
            and fast.model_dump_json() == slow.model_dump_json()
        )
    except Exception:
        return False


_factory = _fast_factory if fast_path_works() else _slow_factory


@functools.cache
def builder_for(cls: type[Event]) -> Builder:
    return _factory(cls)


def build(cls: type[Event], values: dict[str, Any]) -> Any:
    """A ``cls`` model from ``values``: every field, in declaration order, already of its type."""
    return builder_for(cls)(values)


# The models built once per claim, line or segment, bound once (the reader's hot path).
build_adjustment = builder_for(Adjustment)
build_amount_ref = builder_for(AmountRef)
build_claim_payment = builder_for(ClaimPayment)
build_date_ref = builder_for(DateRef)
build_reference = builder_for(Reference)
build_service_line = builder_for(ServiceLine)
