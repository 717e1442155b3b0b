"""What the agents and the HTTP views share: the Faust app, its topics, tables, settings and metrics.

Its own module, importing neither the agents nor the views, so both can depend on it and the wiring
(streams/app.py, `create_app`) can depend on all three without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from streams.ledger_table import LedgerTable
from streams.metrics import WorkerMetrics
from streams.people import AccessDirectory
from streams.settings import Settings


@dataclass
class Topics:
    raw: faust.TopicT
    remittances: faust.TopicT
    remittances_rekeyed: faust.TopicT
    reversals: faust.TopicT
    recoupments: faust.TopicT
    dead_letters: faust.TopicT
    net_cash: faust.TopicT
    net_cash_shares: faust.TopicT
    receipts: faust.TopicT
    bank_raw: faust.TopicT
    reassociation_in: faust.TopicT
    reassociations: faust.TopicT
    actions: faust.TopicT


@dataclass
class TakebackApp:
    app: faust.App
    settings: Settings
    topics: Topics
    ledgers: LedgerTable  # provider_id -> ProviderLedger
    net_cash: faust.Table  # provider_id (bytes) -> NetCashRow JSON (bytes): its shares combined
    cash_shares: faust.Table  # provider_id (bytes) -> {ledger key: its share, NetCashRow JSON} JSON (bytes)
    metrics: WorkerMetrics
    reassociation: faust.Table  # trace (bytes) -> RouteState JSON; clock_key(partition) -> PartitionClock JSON
    # rules §2: NPI (bytes) -> the ledger keys it was routed to, JSON (streams/domain/payee_ledgers.py); a global
    # table: every worker routes every NPI
    payee_ledgers: faust.Table
    work: faust.Table  # action target key (bytes) -> WorkState JSON (rules §12, streams/domain/work_state.py)
    access: AccessDirectory  # people, sessions, sign-in failures (streams/people.py)
