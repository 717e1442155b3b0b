"""`takeback sink`: a durable, queryable history of the takeback topics in PostgreSQL.

* ``migrations``: the tables, created and migrated by the command itself (schema_migrations);
* ``store``: batched, idempotent writes (upsert by id where the revision is newer);
* ``consumer``: the Kafka side: its own consumer group, offsets committed after the database commit, lag metric.
"""


class SinkError(RuntimeError):
    """The sink cannot run (no database, a refused connection): one line for the operator."""
