"""Where people, sessions and sign-in failures are kept: one compacted topic every worker reads whole (docs/pages.md,
"People and sign-in").

Keys: `person:<name>` (a Person), `session:<sha256 of the session id>` (a SessionRecord; the id itself is only ever in
the browser's cookie, so a reader of the topic cannot take over a session), `failures:<name>` (wrong passwords in a
row). A deleted key is a tombstone (value None), which compaction eventually drops.

Every worker reads the topic from the start into memory before it answers (`loaded`), then follows it: a person added
on one worker, or a sign-out, reaches the others within a fetch. A process writes through `write`, which applies the
record here at once, so the worker that signs a person in knows the session before the browser's next request.
The `takeback users` command uses the same class for one command and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.domain.access import BadPerson, Failures, Person, SessionRecord, check_name, check_role, hash_password
from streams.kafka_io import _all_partitions, consumer_for, producer_for, true_end_offsets
from streams.security import kafka_client_kwargs
from streams.settings import Settings

log = logging.getLogger(__name__)

PERSON = b"person:"
SESSION = b"session:"
FAILURES = b"failures:"
# Failure counts of names nobody has, kept in this process only: writing them would let anyone grow the topic
# with made-up names. Capped for the same reason.
MAX_UNKNOWN_NAMES = 10_000


def access_topic(settings: Settings) -> str:
    """Named after the app id (which carries the topic prefix), like the tables' changelogs: internal state."""
    return f"{settings.application_id}-access"


def session_key(session_id: str) -> bytes:
    return SESSION + hashlib.sha256(session_id.encode()).hexdigest().encode()


class AccessDirectory:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = access_topic(settings)
        self.people: dict[str, Person] = {}
        self.sessions: dict[bytes, SessionRecord] = {}
        self.failures: dict[str, Failures] = {}
        self.unknown_failures: dict[str, Failures] = {}
        self.loaded = asyncio.Event()
        self.changed = asyncio.Event()  # set (and replaced) whenever a record arrives: waiters look again
        self._producer: AIOKafkaProducer | None = None  # made in start: aiokafka wants the running loop
        self._follower: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ life

    async def start(self, follow: bool = True) -> None:
        """Read the topic to its end; then keep following it in the background (a worker) or not (the CLI)."""
        await ensure_access_topic(self.settings)
        self._producer = producer_for(self.settings)
        await self._producer.start()
        consumer = consumer_for(self.settings, fetch_max_wait_ms=100)
        await consumer.start()
        try:
            (partition,) = await _all_partitions(consumer, [self.topic])  # waits for a new topic's metadata
            consumer.assign([partition])
            await consumer.seek_to_beginning(partition)
            ends = await true_end_offsets(self.settings, await consumer.end_offsets([partition]))
            while await consumer.position(partition) < ends[partition]:
                await self._apply_batch(consumer)
        except BaseException:
            await consumer.stop()
            raise
        self.loaded.set()
        if follow:
            self._follower = asyncio.get_running_loop().create_task(self._follow(consumer))
        else:
            await consumer.stop()

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        if self._producer is not None:
            await self._producer.stop()

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                await self._apply_batch(consumer)
        finally:
            await consumer.stop()

    async def _apply_batch(self, consumer: AIOKafkaConsumer) -> None:
        batches = await consumer.getmany(timeout_ms=500)
        for records in batches.values():
            for record in records:
                self.apply(record.key, record.value)

    # ------------------------------------------------------------------ records

    def apply(self, key: bytes, value: bytes | None) -> None:
        try:
            if key.startswith(PERSON):
                name = key[len(PERSON) :].decode()
                if value is None:
                    self.people.pop(name, None)
                else:
                    self.people[name] = Person.from_json(value)
            elif key.startswith(SESSION):
                if value is None:
                    self.sessions.pop(key, None)
                else:
                    self.sessions[key] = SessionRecord.from_json(value)
            elif key.startswith(FAILURES):
                name = key[len(FAILURES) :].decode()
                if value is None:
                    self.failures.pop(name, None)
                else:
                    self.failures[name] = Failures.from_json(value)
        except (ValueError, TypeError, KeyError):
            # a record this version cannot read: skipped, named by its kind only (never its content)
            kind = key.split(b":", 1)[0].decode(errors="replace")
            log.warning("skipped an unreadable record on %s (%s)", self.topic, kind)
        self.changed.set()
        self.changed = asyncio.Event()

    async def write(self, key: bytes, value: bytes | None) -> None:
        if self._producer is None:
            raise RuntimeError("the access directory was not started")
        await self._producer.send_and_wait(self.topic, key=key, value=value, partition=0)
        self.apply(key, value)

    # ------------------------------------------------------------------ people

    async def put_person(self, person: Person) -> None:
        await self.write(PERSON + person.name.encode(), person.to_json())

    # ------------------------------------------------------------------ sessions

    async def put_session(self, session_id: str, record: SessionRecord) -> None:
        await self.write(session_key(session_id), record.to_json())

    async def end_session(self, session_id: str) -> None:
        await self.write(session_key(session_id), None)

    async def drop_expired_sessions(self, alive: Callable[[SessionRecord], bool], at_most: int = 100) -> None:
        """Sessions nobody signed out of stay on the topic until dropped: a few at every sign-in."""
        expired = [key for key, record in list(self.sessions.items()) if not alive(record)][:at_most]
        for key in expired:
            await self.write(key, None)

    async def session(self, session_id: str, wait: float) -> SessionRecord | None:
        """The session's record; a session started on another worker may take a fetch to arrive: wait that long."""
        key = session_key(session_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while key not in self.sessions and loop.time() < deadline:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), deadline - loop.time())
        return self.sessions.get(key)

    # ------------------------------------------------------------------ sign-in failures

    def failures_of(self, name: str) -> Failures | None:
        return self.failures.get(name) if name in self.people else self.unknown_failures.get(name)

    async def count_failure(self, name: str, now: float) -> None:
        previous = self.failures_of(name)
        failures = Failures((previous.count if previous else 0) + 1, now)
        if name in self.people:
            await self.write(FAILURES + name.encode(), failures.to_json())
            return
        if len(self.unknown_failures) >= MAX_UNKNOWN_NAMES:
            self.unknown_failures.pop(next(iter(self.unknown_failures)))
        self.unknown_failures[name] = failures

    async def clear_failures(self, name: str) -> None:
        self.unknown_failures.pop(name, None)
        if name in self.failures:
            await self.write(FAILURES + name.encode(), None)


async def ensure_access_topic(settings: Settings) -> None:
    """One partition (every worker reads all of it), compacted (only the latest record per key matters)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers, **kafka_client_kwargs(settings))
    await admin.start()
    try:
        topic = access_topic(settings)
        if topic in set(await admin.list_topics()):
            return
        configs = {"cleanup.policy": "compact", "retention.ms": "-1"}
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(topic, 1, settings.replication_factor, topic_configs=configs)])
    finally:
        await admin.close()


async def change_person(directory: AccessDirectory, op: str, name: str, role: str = "", password: str = "") -> str:
    """add, reset (password), disable, enable or role: what the People page and `takeback users` do. Hashing runs
    off the event loop (tens of milliseconds of CPU). Any change ends the person's sessions (Person.changed_at)."""
    now = time.time()
    loop = asyncio.get_running_loop()
    if op == "add":
        check_name(name)
        check_role(role)
        if name in directory.people:
            raise BadPerson(f"{name} is already there")
        password_hash = await loop.run_in_executor(None, hash_password, password)
        await directory.put_person(Person(name, role, password_hash, changed_at=now))
        return f"Added {name} ({role})."
    person = directory.people.get(name)
    if person is None:
        raise BadPerson(f"nobody is called {name}")
    if op == "reset":
        password_hash = await loop.run_in_executor(None, hash_password, password)
        await directory.put_person(replace(person, password_hash=password_hash, changed_at=now))
        await directory.clear_failures(name)
        return f"New password set for {name}; their sessions ended."
    if op in ("disable", "enable"):
        if op == "disable":
            keep_an_admin(directory.people, name)
        await directory.put_person(replace(person, disabled=op == "disable", changed_at=now))
        return f"{name} is {op}d."
    if op == "role":
        if check_role(role) != "admin":
            keep_an_admin(directory.people, name)
        await directory.put_person(replace(person, role=role, changed_at=now))
        return f"{name} is now a {role}."
    raise BadPerson(f"there is no change called '{op}'")


def keep_an_admin(people: dict[str, Person], losing: str) -> None:
    """Nobody could manage people any more from the pages: refused."""
    admins = [p.name for p in people.values() if p.role == "admin" and not p.disabled]
    if admins == [losing]:
        raise BadPerson(f"{losing} is the only admin who can sign in")
