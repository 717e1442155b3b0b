"""People's actions on takebacks (rules §12), on the Faust side: the agent that applies them, and how the web side
publishes one, reads a work state and gathers every worker's.

* ``actions``: takeback.actions (Action events, keyed by target) -> the `work` table (target -> WorkState), folded
  by streams/domain/work_state.py. Idempotent by action id, so a redelivery after a crash applies nothing twice.

The topic is the audit trail (the sink keeps it in PostgreSQL); the table is what the pages and the API read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import ClientError
from pydantic import ValidationError

from schemas import Action, ActionTarget, SourceRef
from streams.container import TakebackApp
from streams.dead_letters import dead_letter
from streams.domain.work_state import WorkState, apply
from streams.ledger_routing import owner_elsewhere
from streams.publishing import EventPublisher

log = logging.getLogger("takeback.actions")

# How long a POST waits for its action to be applied before answering that it is still on its way.
APPLY_WAIT_SECONDS = 10.0


def register_action_agents(tb: TakebackApp) -> None:
    app, topics = tb.app, tb.topics
    publisher = EventPublisher(tb)

    @app.agent(topics.actions, name="actions")
    async def apply_actions(stream):
        # one event at a time: actions are few, and each is read-modify-write of one target's state
        async for event in stream.events():
            message = event.message
            try:
                action = Action.model_validate_json(event.value or b"")
            except ValidationError as exc:
                where = SourceRef(topic=message.topic, partition=message.partition, offset=message.offset)
                why = f"an action event that does not match its schema ({exc.error_count()} errors)"
                await publisher.send(
                    topics.dead_letters, "action", dead_letter("matching", "invalid_event", why, where, event.value)
                )
                continue
            key = action.target_key.encode()
            raw = tb.work.get(key)
            state = WorkState.model_validate_json(raw) if raw is not None else None
            changed = apply(state, action)
            if changed is None:
                log.info("action %s was applied before; skipped", action.action_id)
                continue
            tb.work[key] = changed.model_dump_json().encode()


@dataclass
class GatheredWork:
    """Every worker's work states, by target key, and how many workers did not answer."""

    states: dict[str, WorkState] = field(default_factory=dict)
    missing_workers: int = 0

    def of_provider(self, provider_id: str) -> dict[str, WorkState]:
        """target id -> state, for the provider's targets."""
        return {s.target_id: s for s in self.states.values() if s.provider_id == provider_id}

    def touched_per_provider(self) -> dict[str, set[str]]:
        """Provider -> the takebacks someone acted on (carried balances and deposit items are counted apart)."""
        touched: dict[str, set[str]] = {}
        for state in self.states.values():
            if state.provider_id and state.touched and state.target_kind == ActionTarget.takeback:
                touched.setdefault(state.provider_id, set()).add(state.target_id)
        return touched


class ActionService:
    """The web side: publish an action, wait for it to be applied, read states here or on their worker."""

    def __init__(self, tb: TakebackApp, other_workers: Any) -> None:
        self.tb = tb
        self.publisher = EventPublisher(tb)
        self.other_workers = other_workers  # tb -> the other workers' URLs (streams.web._other_workers)

    def headers(self, credentials: Mapping[str, str] | None = None) -> dict[str, str]:
        """The caller's token or session (`streams.security.caller_credentials`), else the machine token: another
        worker answers with the caller's rights, and a worker of people without a token still reaches its peers."""
        if credentials:
            return dict(credentials)
        token = self.tb.settings.api_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def local_states(self, provider_id: str | None = None) -> list[WorkState]:
        states = [WorkState.model_validate_json(raw) for _, raw in list(self.tb.work.items())]
        return [s for s in states if provider_id is None or s.provider_id == provider_id]

    def local_state(self, key: str) -> WorkState | None:
        raw = self.tb.work.get(key.encode())
        return WorkState.model_validate_json(raw) if raw is not None else None

    async def state(self, key: str, credentials: Mapping[str, str] | None = None) -> WorkState | None:
        """One target's state, from the worker that owns it."""
        try:
            owner = owner_elsewhere(self.tb, self.tb.work, key)
        except KeyError:
            owner = None  # partitions being assigned: read what is here
        if owner is None:
            return self.local_state(key)
        try:
            async with self.tb.app.http_client.get(
                f"{owner}/actions/state", params={"key": key}, headers=self.headers(credentials)
            ) as response:
                if response.status != 200:
                    return None
                body = await response.json()
        except (TimeoutError, OSError, ClientError):
            return None
        return WorkState.model_validate(body["state"]) if body.get("state") else None

    async def gather(
        self, provider_id: str | None = None, credentials: Mapping[str, str] | None = None
    ) -> GatheredWork:
        """Every worker's states (of one provider, when given)."""
        gathered = GatheredWork()
        for state in self.local_states(provider_id):
            gathered.states[state.key] = state
        params = {"provider_id": provider_id} if provider_id else {}
        for url in self.other_workers(self.tb):
            try:
                async with self.tb.app.http_client.get(
                    f"{url}/actions/local", params=params, headers=self.headers(credentials)
                ) as response:
                    if response.status != 200:
                        gathered.missing_workers += 1
                        continue
                    for item in (await response.json())["items"]:
                        state = WorkState.model_validate(item)
                        gathered.states.setdefault(state.key, state)
            except (TimeoutError, OSError, ClientError):
                gathered.missing_workers += 1
        return gathered

    async def takeback_known(
        self, provider_id: str, event_id: str, credentials: Mapping[str, str] | None = None
    ) -> bool | None:
        """Whether the provider has this takeback, asked of the API (which routes to the worker holding the provider's
        ledger); None when that cannot be told now (no worker answered)."""
        url = f"{str(self.tb.app.conf.canonical_url).rstrip('/')}/providers/{quote(provider_id, safe='')}/takebacks"
        try:
            async with self.tb.app.http_client.get(
                url, params={"event_id": event_id, "limit": "1"}, headers=self.headers(credentials)
            ) as response:
                if response.status == 404:
                    return False
                if response.status != 200:
                    return None
                return (await response.json())["total"] > 0
        except (TimeoutError, OSError, ClientError, ValueError):
            return None

    async def publish(self, actions: Iterable[Action]) -> list[Action]:
        sent = list(actions)
        for action in sent:
            await self.publisher.send(self.tb.topics.actions, action.target_key, action)
        await self.tb.app.producer.flush()
        return sent

    async def wait_applied(
        self,
        actions: list[Action],
        timeout: float = APPLY_WAIT_SECONDS,
        credentials: Mapping[str, str] | None = None,
    ) -> dict[str, WorkState]:
        """The targets' states once every action is applied; those not applied within `timeout` are left out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending: Mapping[str, list[str]] = _ids_by_target(actions)
        done: dict[str, WorkState] = {}
        while pending and loop.time() < deadline:
            for key, ids in list(pending.items()):
                state = await self.state(key, credentials)
                if state is not None and all(state.applied(i) for i in ids):
                    done[key] = state
            pending = {k: v for k, v in pending.items() if k not in done}
            if pending:
                await asyncio.sleep(0.1)
        return done


def _ids_by_target(actions: Iterable[Action]) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for action in actions:
        ids.setdefault(action.target_key, []).append(action.action_id)
    return ids
