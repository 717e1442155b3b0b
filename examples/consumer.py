"""Follow Takeback's takeback topics and keep the current version of each takeback: a starting point for other teams.

    pip install aiokafka
    python examples/consumer.py --broker localhost:9092 --db takebacks.sqlite

Plain aiokafka and the standard library, nothing from Takeback. What it shows:

* its own consumer group, offsets committed only after the database commit (at-least-once delivery);
* routing by the CloudEvents header `ce_type` without parsing the payload, and refusing a major version it does not
  know (`org.takeback.takeback.v2` would mean a breaking change: schemas/CHANGELOG.md);
* upsert by `event_id`, keeping the highest `revision`: redelivery, restarts and late revisions converge. A
  takeback's `kind` may change between revisions (it then arrives on the other topic); `withdrawn: true`
  retracts it.

The contract of the topics: schemas/asyncapi.yaml.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import time

from aiokafka import AIOKafkaConsumer

TAKEBACK_TOPICS = ("takebacks.reversal", "takebacks.recoupment")
KNOWN_TYPE = "org.takeback.takeback.v1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS takebacks (
    event_id TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    kind TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    amount TEXT NOT NULL,          -- a decimal string: never a float for money
    withdrawn INTEGER NOT NULL,
    document TEXT NOT NULL
)
"""
UPSERT = """
INSERT INTO takebacks (event_id, revision, kind, provider_id, amount, withdrawn, document)
VALUES (:event_id, :revision, :kind, :provider_id, :amount, :withdrawn, :document)
ON CONFLICT (event_id) DO UPDATE SET
    revision = excluded.revision, kind = excluded.kind, provider_id = excluded.provider_id,
    amount = excluded.amount, withdrawn = excluded.withdrawn, document = excluded.document
WHERE excluded.revision > takebacks.revision
"""


def upsert(db: sqlite3.Connection, value: bytes) -> None:
    takeback = json.loads(value)
    db.execute(
        UPSERT,
        {
            "event_id": takeback["event_id"],
            "revision": takeback["revision"],
            "kind": takeback["kind"],
            "provider_id": takeback["provider_id"],
            "amount": takeback["amount"],
            "withdrawn": int(takeback["withdrawn"]),
            "document": value.decode(),
        },
    )


async def follow(broker: str, prefix: str, group: str, db: sqlite3.Connection, idle_exit: float) -> None:
    consumer = AIOKafkaConsumer(
        *(prefix + topic for topic in TAKEBACK_TOPICS),
        bootstrap_servers=broker,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # a new group reads the whole history
    )
    await consumer.start()
    last_message: float | None = None  # the quiet time counts from the first message (joining the group takes a while)
    try:
        while not idle_exit or last_message is None or time.monotonic() - last_message < idle_exit:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            if not batches:
                continue
            last_message = time.monotonic()
            for messages in batches.values():
                for message in messages:
                    headers = {key: value.decode() for key, value in message.headers}
                    if headers.get("ce_type") != KNOWN_TYPE:
                        where = f"{message.topic}@{message.offset}"
                        print(f"skipping {headers.get('ce_type')} at {where}: this consumer knows {KNOWN_TYPE}")
                        continue
                    upsert(db, message.value)
            db.commit()
            await consumer.commit()  # after the database: a crash in between re-delivers, and the upsert absorbs it
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", default="localhost:9092", help="Kafka bootstrap servers")
    parser.add_argument("--prefix", default="", help="Takeback's TAKEBACK_TOPIC_PREFIX, if it has one")
    parser.add_argument("--group", default="takeback-example-consumer", help="this consumer's group id")
    parser.add_argument("--db", default="takebacks.sqlite", help="SQLite file to keep the takebacks in")
    parser.add_argument("--idle-exit", type=float, default=0, help="exit after this many quiet seconds (0: never)")
    args = parser.parse_args()
    db = sqlite3.connect(args.db)
    db.execute(SCHEMA)
    try:
        asyncio.run(follow(args.broker, args.prefix, args.group, db, args.idle_exit))
    except KeyboardInterrupt:
        pass
    finally:
        db.close()


if __name__ == "__main__":
    main()
