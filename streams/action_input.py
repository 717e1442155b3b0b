"""An action as a person or a client asks for it (a form, a JSON body) -> a validated Action event, or the errors
per field. One place, so the pages and the API refuse the same things with the same messages (rules §12).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from schemas import Action, ActionKind, ActionTarget

# The fields each kind of action takes (a form sends them flat; JSON nests them under "what").
FIELDS: dict[str, tuple[str, ...]] = {
    ActionKind.acknowledge: (),
    ActionKind.assign: ("assignee",),
    ActionKind.dispute: ("filed_date", "reference_number", "letter_date"),
    ActionKind.appeal: ("filed_date", "reference_number", "letter_date"),
    ActionKind.accept: (),
    ActionKind.refund_sent: ("check_number", "amount", "sent_date"),
    ActionKind.posted: ("reference",),
    ActionKind.note: ("text",),
}


NEEDS_PROVIDER = (ActionTarget.takeback, ActionTarget.carried_balance)


class ActionInvalid(ValueError):
    """The action cannot be taken; `errors` maps a field name (as the form and the JSON name it) to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def new_action_id() -> str:
    """A fresh idempotency key: a form carries one, so submitting it twice acts once."""
    return uuid.uuid4().hex


def build_action(
    *,
    target_kind: str,
    target_id: str,
    provider_id: str | None,
    actor: str,
    action_id: str | None,
    what: Mapping[str, Any],
    now: dt.datetime | None = None,
) -> Action:
    """The Action event, or ActionInvalid with a message per field."""
    kind = str(what.get("kind") or "")
    if kind not in FIELDS:
        raise ActionInvalid({"kind": f"'{kind}' is not an action; one of {', '.join(FIELDS)}"})
    if target_kind not in {t.value for t in ActionTarget}:
        raise ActionInvalid(
            {"target_kind": f"'{target_kind}' is not one of {', '.join(t.value for t in ActionTarget)}"}
        )
    if target_kind in NEEDS_PROVIDER and not provider_id:
        raise ActionInvalid({"provider_id": "required: the worklists find a takeback's work by its provider"})
    payload: dict[str, Any] = {"kind": kind}
    for name in FIELDS[kind]:
        value = what.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):  # an empty form field: "not known", or "required" when the kind needs it
            continue
        payload[name] = value
    unknown = set(what) - {"kind", *FIELDS[kind]}
    if unknown:
        raise ActionInvalid({name: f"not a field of '{kind}'" for name in sorted(unknown)})
    document = {
        "action_id": action_id or "",
        "target_kind": target_kind,
        "target_id": target_id,
        "provider_id": provider_id or None,
        "actor": actor,
        "acted_at": (now or dt.datetime.now(dt.UTC)).isoformat(),
        "what": payload,
    }
    try:
        return Action.model_validate(document)
    except ValidationError as exc:
        raise ActionInvalid(field_errors(exc)) from None


def field_errors(exc: ValidationError) -> dict[str, str]:
    """pydantic's errors by field name, in words a billing person reads (the first error of each field)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        if loc[:1] == ["what"]:
            loc = loc[2:]  # "what", then the kind pydantic chose by the discriminator
        name = loc[-1] if loc else "what"
        errors.setdefault(name, _words(error))
    return errors


def _words(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required"
    if kind.startswith("date") or kind.startswith("datetime"):
        return "not a date (YYYY-MM-DD)"
    if kind.startswith("decimal") and kind != "decimal_max_places":
        return "not an amount (e.g. 120.50)"
    if kind == "decimal_max_places":
        return "at most 2 decimals"
    if kind == "greater_than":
        return "must be more than 0"
    if kind == "string_too_short":
        return "required"
    if kind == "string_too_long":
        return f"at most {error.get('ctx', {}).get('max_length')} characters"
    if kind == "string_pattern_mismatch":
        return "must not hold control characters"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
