"""Where a provider's ledger lives (rules §5): the NPIs of one TIN share a ledger, keyed by a hash of the TIN.

The net cash table stays keyed by NPI, so the worker that holds an NPI's row may not hold its ledger. A request for
an NPI's takebacks therefore goes to the worker holding the NPI's row (the row names its ledger: `ledger_key`), then
to the worker holding that ledger: two hops at most. An NPI paid under several TINs has a ledger each; its row
names the one with most of its remittances (docs/known-problems.md). An NPI whose ERAs give no TIN has a ledger
under its own id, on the same partition as its row, so it takes one hop, as before.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import faust

from schemas import NetCashRow
from streams.container import TakebackApp

# Set by the worker holding a provider's row when it forwards to the ledger's worker: which ledger to read.
LEDGER_HEADER = "X-Takeback-Ledger"


def ledger_key_here(tb: TakebackApp, provider_id: str) -> str | None:
    """The ledger of a provider whose net cash row this worker holds; None when it holds no row for it."""
    raw = tb.net_cash.get(provider_id.encode())
    if raw is None:
        return None
    return NetCashRow.model_validate_json(raw).ledger_key or provider_id  # rows from before ledger keys: the NPI


def owner_elsewhere(tb: TakebackApp, table: faust.Table, key: str) -> str | None:
    """The web address of the worker that owns `key` in `table`; None when it is this worker.

    Raises KeyError while the partitions are being assigned (nobody owns the key).
    """
    owner = tb.app.router.key_store(table.name, key)
    me = urlsplit(str(tb.app.conf.canonical_url))
    there = urlsplit(str(owner))
    return None if (there.hostname, there.port) == (me.hostname, me.port) else str(owner).rstrip("/")
