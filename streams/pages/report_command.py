"""`takeback report`: a provider's statement written to a file, from what the pipeline published.

It reads the output topics (takebacks, net cash rows, reassociation records) and the remittances topic from the
broker, so it needs no running worker; the statement is built by the same code as the printable page
(streams/pages/statement.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from schemas import NetCashRow, Reassociation, Takeback
from streams.domain.ledger import InvalidRemittance, RemittanceFacts, facts_from_json
from streams.kafka_io import read_topic
from streams.pages.queries import ProviderData
from streams.pages.statement import build_statement, write_statement
from streams.settings import Settings, match_policy


class UnknownProvider(LookupError):
    pass


async def provider_from_topics(settings: Settings, provider_id: str) -> ProviderData:
    names = settings.topic_names
    takebacks: dict[str, Takeback] = {}
    for topic in (names.reversals, names.recoupments):
        for value in await read_topic(settings, topic):
            t = Takeback.model_validate_json(value)
            if t.payee_provider_id == provider_id and t.revision >= takebacks.get(t.event_id, t).revision:
                takebacks[t.event_id] = t
    row: NetCashRow | None = None
    for value in await read_topic(settings, names.net_cash):
        candidate = NetCashRow.model_validate_json(value)
        if candidate.provider_id == provider_id and (row is None or candidate.revision >= row.revision):
            row = candidate
    remittances: dict[str, RemittanceFacts] = {}
    for value in await read_topic(settings, names.remittances):
        try:
            facts, document = facts_from_json(value)
        except InvalidRemittance:
            continue  # the pipeline sent it to the dead-letter topic: it counts for nothing
        if document.get("payee", {}).get("id") == provider_id:
            remittances.setdefault(facts.remittance_id, facts)
    if row is None and not remittances:
        raise UnknownProvider(f"no remittances for provider {provider_id} on {names.remittances}")
    return ProviderData(provider_id, row, takebacks, list(remittances.values()))


async def reassociations_from_topic(settings: Settings) -> list[Reassociation]:
    """The latest revision of every reassociation record (the statement picks out the provider's)."""
    latest: dict[str, Reassociation] = {}
    for value in await read_topic(settings, settings.topic_names.reassociations):
        record = Reassociation.model_validate_json(value)
        if record.revision >= latest.get(record.event_id, record).revision:
            latest[record.event_id] = record
    return list(latest.values())


def write_report(
    settings: Settings,
    provider_id: str,
    start: dt.date | None,
    end: dt.date | None,
    out: Path,
    today: dt.date | None = None,
) -> str:
    """Write the statement (with the forecast of offsets from `today`, rules §13); returns a one-line summary."""
    if out.suffix.lower() not in (".xlsx", ".csv"):
        raise ValueError(f"{out}: the report is written as .xlsx or .csv")
    if start and end and start > end:
        raise ValueError(f"--from {start} is after --to {end}")
    data = asyncio.run(provider_from_topics(settings, provider_id))
    records = asyncio.run(reassociations_from_topic(settings))
    statement = build_statement(data, start, end, records, today=today, rules=match_policy(settings).rules)
    write_statement(out, statement, settings.include_patient_data)
    return (
        f"wrote {out}: provider {provider_id}, {len(statement.takebacks)} takebacks, "
        f"{len(statement.payments)} payments, {len(statement.ages)} open-balance lines, "
        f"{len(statement.deposits)} deposit records, {len(statement.forecast)} forecast lines"
    )
