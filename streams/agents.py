"""The agents: take messages, call the plain classes that decide, write the results. Nothing else lives here.

* ``ingest``:  era.raw (one message per 835 file, or per piece of one) -> remittances (the record of every one,
               keyed by ledger key: the payee's hashed TIN, else its NPI, so the NPIs of one TIN share a
               partition) + dead letters (decided by streams/ingest.py). A remittance whose ledger is in the
               partition it was read from (streams/local_ledgers.py: feeds key era.raw by ledger key) is matched
               right there, as `match` would; any other goes on remittances.rekeyed.
* ``match``:   remittances.rekeyed -> takebacks.reversal / takebacks.recoupment + net-cash.shares (each ledger's
               share of its NPIs' rows), with the ledger of the payee's TIN as table state (decided by
               streams/match_batch.py)
* ``cash``:    net-cash.shares -> an NPI's shares summed (streams/domain/cash_shares.py) -> net-cash, and the
               net-cash table that the HTTP API reads

Ingest and match also hand ERA facts and takebacks to reassociation (streams/deposit_agents.py, rules §10).

Faust's cost is per message, so messages are whole files and whole
remittances, never single claims.  Every agent also writes a Receipt, which is
how `takeback replay` (and ops) know that an input has been fully processed.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from schemas import NetCashRow, SourceRef, Takeback
from streams.container import TakebackApp
from streams.deposit_agents import ReassociationSender
from streams.domain.cash_shares import add_share
from streams.domain.ids import ledger_key
from streams.event_context import event_batches
from streams.ingest import ingest_input
from streams.local_ledgers import LocalLedgers
from streams.match_batch import MatchBatch
from streams.publishing import EventPublisher
from streams.settings import match_policy

log = logging.getLogger("takeback.agents")


def register_agents(tb: TakebackApp) -> None:
    app, topics, settings = tb.app, tb.topics, tb.settings
    policy = match_policy(settings)
    reassociation = ReassociationSender(tb)

    publisher = EventPublisher(tb)
    send_json = publisher.send
    local_ledgers = LocalLedgers(tb)

    # ------------------------------------------------------------------ ingest

    @app.agent(topics.raw, name="ingest")
    async def ingest(stream):
        async for event in stream.events():
            message = event.message
            result = ingest_input(
                event.value or b"",
                message.headers,
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                published_at=message.timestamp or None,  # faust gives seconds
                settings=settings,
            )
            tb.metrics.ingested(result.dead_letters, result.notice_counts)
            here = MatchBatch(tb.ledgers, policy, tb.metrics)  # remittances whose ledger is in this partition
            where = SourceRef(topic=message.topic, partition=message.partition, offset=message.offset)
            applied_here: dict[str, Any] = {}
            for remittance, payload in zip(result.remittances, result.payloads, strict=True):
                payee = remittance.payee
                key = ledger_key(payee.id, payee.tin, payee.id_qualifier)  # rules §5: the TIN's NPIs in one ledger
                value = await send_json(topics.remittances, key, remittance, value=payload)  # the record of it
                if local_ledgers.hold(key, message.partition):
                    here.add(value, where)
                    applied_here[key] = event
                else:
                    await send_json(topics.remittances_rekeyed, key, remittance, value=value)
                    tb.metrics.rekeyed.inc()
            await reassociation.send_facts(result.remittances)  # the ERA side of their deposits (rules §10)
            await reassociation.tick(result.latest_date)
            await store_and_send(here, applied_here)
            await publisher.send_input_end(topics, result)
            log.info(result.summary())

    # ------------------------------------------------------------------ match

    @app.agent(topics.remittances_rekeyed, name="match")
    async def match(stream):
        # a batch of remittances costs one header write per ledger, however many of its remittances it holds
        async for events in event_batches(stream, settings):
            batch = MatchBatch(tb.ledgers, policy, tb.metrics)
            event_of: dict[str, Any] = {}  # ledger key -> one of its events (the table write needs its partition)
            for event in events:
                message = event.message
                where = SourceRef(topic=message.topic, partition=message.partition, offset=message.offset)
                key = batch.add(event.value, where)
                if key is not None:
                    event_of[key] = event
            await store_and_send(batch, event_of)

    async def store_and_send(batch: MatchBatch, event_of: dict[str, Any]) -> None:
        """Settle the batch, store its ledgers (each under one of its events: the table write needs its partition),
        then publish what it produced."""
        result = batch.finish()
        for key, ledger in result.changed.items():
            tb.ledgers.put(ledger, event_of[key])  # facts, then the header that counts them; before any output
        # A takeback may explain a deposit's amount (rules §10). Before the receipts: a replay's marker follows those.
        await reassociation.send_facts(o.event for o in result.outbox if isinstance(o.event, Takeback))
        for outgoing in result.outbox:
            await send_json(getattr(topics, outgoing.destination), outgoing.key, outgoing.event)

    # ------------------------------------------------------------------ cash

    @app.agent(topics.net_cash_shares, name="cash")
    async def cash(stream):
        # Rules §5, §8: an NPI paid under two TINs, or with and without one, has a share in each ledger; its row
        # is their sum. Crash-safe order: the share, then the combined row published, then stored. A share seen
        # before means a redelivery after a crash, which may have lost the row's send but not its store: the row
        # is published again (same revision, same row; consumers upsert by revision).
        async for event in stream.events():
            try:
                share = NetCashRow.model_validate_json(event.value)
            except ValidationError:
                log.warning("skipping a cash share that does not match the schema at offset %s", event.message.offset)
                continue
            key = share.provider_id.encode()
            stored, combined = add_share(tb.cash_shares.get(key), share)
            if stored is not None:
                tb.cash_shares[key] = stored
            current = tb.net_cash.get(key)
            redelivered = stored is None
            if redelivered or current is None or NetCashRow.model_validate_json(current).revision < combined.revision:
                await send_json(topics.net_cash, combined.provider_id, combined)
                tb.net_cash[key] = combined.model_dump_json().encode()
                tb.metrics.cash_row(combined)

    # ------------------------------------------------------------------ ops

    @app.timer(interval=5.0)
    async def measure_lag() -> None:
        consumer = app.consumer
        lags: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            read = consumer._read_offset.get(tp)  # faust keeps no public accessor for it
            try:
                highwater = consumer.highwater(tp)
            except Exception:
                continue
            if highwater is not None:
                lags[(tp.topic, tp.partition)] = max(0, highwater - ((read + 1) if read is not None else 0))
        tb.metrics.set_lag(lags)

    @app.on_rebalance_complete.connect
    async def refresh_provider_gauges(sender, **kwargs) -> None:
        """Another worker may own some providers now: show only ours."""
        tb.metrics.forget_providers()
        for raw in tb.net_cash.values():
            tb.metrics.cash_row(NetCashRow.model_validate_json(raw))
