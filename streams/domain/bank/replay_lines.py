"""The lines of ``replay``'s DIR/deposits.jsonl: one per reassociation record, latest revision, in an order that
does not depend on the order inputs arrived in (so the same inputs always give the same file)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from schemas import Reassociation

# The contract (docs/commands.md, "replay"): money as decimal strings or null, dates as ISO dates or null.
FIELDS = (
    "deposit_id",
    "status",
    "provider_id",
    "payer_id",
    "trace_number",
    "era_amount",
    "deposit_amount",
    "difference",
    "effective_date",
    "deposit_date",
    "remittance_id",
    "event_id",
    "payment_method",
    "due_date",
    "explained_by",
)


def deposit_lines(records: Iterable[Reassociation]) -> list[str]:
    rows = [{field: record.model_dump(mode="json")[field] for field in FIELDS} for record in records]
    rows.sort(key=lambda r: tuple(str(r[f] or "") for f in ("provider_id", "payer_id", "trace_number", "event_id")))
    return [json.dumps(row, sort_keys=False) for row in rows]
