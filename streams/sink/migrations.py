"""The sink's PostgreSQL schema, as numbered migrations applied once each (table schema_migrations).

A released migration is never edited: a change is a new entry at the end of MIGRATIONS.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


_TAKEBACK_COLUMNS = """
    event_id text NOT NULL,
    revision integer NOT NULL,
    kind text NOT NULL,
    method text NOT NULL,
    amount numeric NOT NULL,
    provider_id text NOT NULL,
    payee_provider_id text NOT NULL,
    payer_id text NOT NULL,
    payer_name text,
    claim_id text,
    payer_claim_control_number text,
    trace_number text NOT NULL,
    original_trace_number text,
    takeback_date date,
    reason_category text NOT NULL,
    status text,
    remaining numeric,
    withdrawn boolean NOT NULL,
    document jsonb NOT NULL,
    kafka_topic text NOT NULL,
    kafka_partition integer NOT NULL,
    kafka_offset bigint NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "takebacks (every revision, and the current one), net cash, dead letters, rejected events",
        f"""
        CREATE TABLE takeback_revisions ({_TAKEBACK_COLUMNS}, PRIMARY KEY (event_id, revision));
        CREATE TABLE takebacks ({_TAKEBACK_COLUMNS}, PRIMARY KEY (event_id));
        CREATE INDEX takebacks_provider ON takebacks (provider_id, takeback_date);
        CREATE INDEX takebacks_payer ON takebacks (payer_id, takeback_date);
        CREATE TABLE net_cash (
            provider_id text PRIMARY KEY,
            revision integer NOT NULL,
            net_cash numeric NOT NULL,
            claim_payments numeric NOT NULL,
            reversed numeric NOT NULL,
            recouped numeric NOT NULL,
            forward_balance numeric NOT NULL,
            refunds numeric NOT NULL,
            other_adjustments numeric NOT NULL,
            oldest_open_forward_balance date,
            last_remittance_date date,
            document jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE VIEW net_cash_by_payer AS
            SELECT n.provider_id, p->>'payer_id' AS payer_id,
                   (p->>'net_cash')::numeric AS net_cash, (p->>'claim_payments')::numeric AS claim_payments,
                   (p->>'reversed')::numeric AS reversed, (p->>'recouped')::numeric AS recouped,
                   (p->>'forward_balance')::numeric AS forward_balance, (p->>'refunds')::numeric AS refunds,
                   (p->>'other_adjustments')::numeric AS other_adjustments
            FROM net_cash n, jsonb_array_elements(n.document->'by_payer') AS p;
        CREATE TABLE dead_letters (
            dead_letter_id text PRIMARY KEY,
            stage text NOT NULL,
            error_code text NOT NULL,
            message text NOT NULL,
            file text,
            source_id text,
            document jsonb NOT NULL,
            raw bytea,
            received_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE rejected_events (
            kafka_topic text NOT NULL,
            kafka_partition integer NOT NULL,
            kafka_offset bigint NOT NULL,
            reason text NOT NULL,
            value bytea,
            received_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (kafka_topic, kafka_partition, kafka_offset)
        );
        """,
    ),
    Migration(
        2,
        "net cash: what was reported paid but not moved, and accepted unexplained differences (rules §7)",
        """
        ALTER TABLE net_cash
            ADD COLUMN not_moved numeric NOT NULL DEFAULT 0,
            ADD COLUMN unexplained numeric NOT NULL DEFAULT 0;
        CREATE OR REPLACE VIEW net_cash_by_payer AS
            SELECT n.provider_id, p->>'payer_id' AS payer_id,
                   (p->>'net_cash')::numeric AS net_cash, (p->>'claim_payments')::numeric AS claim_payments,
                   (p->>'reversed')::numeric AS reversed, (p->>'recouped')::numeric AS recouped,
                   (p->>'forward_balance')::numeric AS forward_balance, (p->>'refunds')::numeric AS refunds,
                   (p->>'other_adjustments')::numeric AS other_adjustments,
                   coalesce((p->>'not_moved')::numeric, 0) AS not_moved,
                   coalesce((p->>'unexplained')::numeric, 0) AS unexplained
            FROM net_cash n, jsonb_array_elements(n.document->'by_payer') AS p;
        """,
    ),
    Migration(
        3,
        "takebacks: payer kind, day 1, the earliest deadline, the look-back check, recovered twice (rules §11, §13)",
        """
        ALTER TABLE takeback_revisions
            ADD COLUMN payer_kind text,
            ADD COLUMN day_one date,
            ADD COLUMN act_by date,
            ADD COLUMN deadline_kind text,
            ADD COLUMN deadline_citation text,
            ADD COLUMN lookback_outcome text,
            ADD COLUMN lookback_state text,
            ADD COLUMN beyond_lookback_limit boolean NOT NULL DEFAULT false,
            ADD COLUMN recovered_twice_excess numeric;
        ALTER TABLE takebacks
            ADD COLUMN payer_kind text,
            ADD COLUMN day_one date,
            ADD COLUMN act_by date,
            ADD COLUMN deadline_kind text,
            ADD COLUMN deadline_citation text,
            ADD COLUMN lookback_outcome text,
            ADD COLUMN lookback_state text,
            ADD COLUMN beyond_lookback_limit boolean NOT NULL DEFAULT false,
            ADD COLUMN recovered_twice_excess numeric;
        CREATE INDEX takebacks_act_by ON takebacks (provider_id, act_by) WHERE act_by IS NOT NULL;
        """,
    ),
)

# Serializes migrations between sinks started at the same time (any constant; "takeback" in ASCII).
_LOCK_ID = 0x74616B656261636B


async def migrate(conn: psycopg.AsyncConnection) -> list[int]:
    """Apply the migrations this database has not had yet, in one transaction; returns their versions."""
    applied: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   description text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        cursor = await conn.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cursor.fetchall()}
        for migration in MIGRATIONS:
            if migration.version in done:
                continue
            await conn.execute(migration.sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, description) VALUES (%s, %s)",
                (migration.version, migration.description),
            )
            applied.append(migration.version)
    return applied
