"""The JSON API of people's actions (rules §12), and who is acting.

* ``POST /takebacks/{id}/actions`` (and ``/carried-balances/{id}/actions``, ``/deposit-items/{id}/actions``):
  publish an action; 201 with the target's work state once applied, 202 while still on its way, 422 with a
  message per field (the same messages the pages show: streams/action_input.py).
* ``GET`` the same path: the target's actions, newest first, and its work state.
* ``GET /actions/local`` and ``/actions/state?key=``: this worker's states (what the gathering and routing read).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from faust.web import Request, Response, View

from schemas import Action, ActionTarget
from streams.action_input import ActionInvalid, build_action, new_action_id
from streams.actions import ActionService
from streams.container import TakebackApp
from streams.domain.work_state import WorkState
from streams.security import TOKEN_PRINCIPAL, caller_credentials, current_principal, require_role

TAKEBACK_TARGETS = (ActionTarget.takeback, ActionTarget.carried_balance)  # both name a takeback by its event_id
TARGET_PATHS = {
    "takebacks": ActionTarget.takeback,
    "carried-balances": ActionTarget.carried_balance,
    "deposit-items": ActionTarget.deposit_item,
}


def acting_person(request: web.Request) -> str:
    """Who is acting, the one place the pages and the API ask: the signed-in person's name; "api" for the machine
    token; "local" in the open loopback demo, where nobody signs in (streams.security.current_principal)."""
    principal = current_principal(request)
    if principal is None or principal.via == "open":
        return "local"
    if principal.name == TOKEN_PRINCIPAL.name:
        return "api"
    return principal.name


def action_answer(action: Action, state: WorkState | None) -> dict[str, Any]:
    return {
        "action": action.model_dump(mode="json"),
        "status": "applied" if state is not None else "pending",
        "state": _state_json(state),
    }


def register_action_views(tb: TakebackApp, other_workers: Any) -> ActionService:
    app = tb.app
    service = ActionService(tb, other_workers)

    @app.page("/actions/local")
    class LocalStates(View):
        """This worker's work states (of one provider with ?provider_id=): what the gathering reads."""

        async def get(self, request: Request) -> Response:
            provider_id = request.query.get("provider_id") or None
            return self.json({"items": [_state_json(s) for s in service.local_states(provider_id)]})

    @app.page("/actions/state")
    class LocalState(View):
        async def get(self, request: Request) -> Response:
            return self.json({"state": _state_json(service.local_state(request.query.get("key", "")))})

    def actions_view(segment: str, kind: ActionTarget) -> None:
        @app.page(f"/{segment}/{{target_id}}/actions")
        class TargetActions(View):
            async def get(self, request: Request, target_id: str) -> Response:
                state = await service.state(f"{kind}:{target_id}")
                history = [a.model_dump(mode="json") for a in state.newest_first()] if state else []
                return self.json({"items": history, "state": _state_json(state)})

            async def post(self, request: Request, target_id: str) -> Response:
                require_role(request, "biller")  # viewers read; the machine token and billers act
                try:
                    body = await request.json()
                except (ValueError, UnicodeDecodeError):
                    return self.json({"error": "the body must be JSON"}, status=400)
                if not isinstance(body, dict) or not isinstance(body.get("what"), dict):
                    return self.json(
                        {"error": "invalid action", "errors": {"what": "required (an object)"}}, status=422
                    )
                action_id = body.get("action_id") or request.headers.get("Idempotency-Key") or new_action_id()
                try:
                    action = build_action(
                        target_kind=kind,
                        target_id=target_id,
                        provider_id=body.get("provider_id"),
                        actor=acting_person(request),
                        action_id=str(action_id),
                        what=body["what"],
                    )
                except ActionInvalid as exc:
                    return self.json({"error": "invalid action", "errors": exc.errors}, status=422)
                if kind in TAKEBACK_TARGETS:  # the pages act only on takebacks they show: the API checks as much
                    known = await service.takeback_known(
                        action.provider_id or "", target_id, caller_credentials(request)
                    )
                    if known is False:
                        message = f"Provider {action.provider_id} has no takeback {target_id}."
                        return self.json({"error": message}, status=404)
                    if known is None:
                        return self.json(
                            {"error": "the worker holding the provider did not answer; try again"}, status=503
                        )
                await service.publish([action])
                states = await service.wait_applied([action], credentials=caller_credentials(request))
                state = states.get(action.target_key)
                return self.json(action_answer(action, state), status=201 if state else 202)

    for segment, kind in TARGET_PATHS.items():
        actions_view(segment, kind)
    return service


def _state_json(state: WorkState | None) -> dict[str, Any] | None:
    return json.loads(state.model_dump_json()) if state is not None else None


ACTION_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action_id": {
            "type": "string",
            "description": "Idempotency key (else the Idempotency-Key header, else a new one): a repeat acts once.",
        },
        "provider_id": {"type": "string", "description": "The provider whose work it is (filters, 'mine')."},
        "what": {
            "description": "The action: `kind` and its fields (see the Action schema's `what`).",
            "type": "object",
        },
    },
    "required": ["what"],
}


def action_paths(ref: Any, ok: Any, error: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI paths of the actions (streams/web.py openapi_document)."""
    state = {"type": ["object", "null"], "description": "The target's work state (rules §12)."}
    answer = {
        "type": "object",
        "properties": {"action": ref("Action"), "status": {"enum": ["applied", "pending"]}, "state": state},
    }
    invalid = {
        "description": "The action cannot be taken: `errors` says why, per field (the messages the pages show).",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "errors": {"type": "object"}},
                }
            }
        },
    }
    paths: dict[str, Any] = {}
    for segment, kind in TARGET_PATHS.items():
        paths[f"/{segment}/{{target_id}}/actions"] = {
            "parameters": [{"name": "target_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {
                "summary": f"The actions on a {kind.replace('_', ' ')}, newest first, and its work state",
                "responses": {
                    "200": ok(
                        {
                            "type": "object",
                            "properties": {"items": {"type": "array", "items": ref("Action")}, "state": state},
                        }
                    )
                },
            },
            "post": {
                "summary": f"Act on a {kind.replace('_', ' ')}: published on takeback.actions, applied once per id",
                "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ACTION_REQUEST_SCHEMA}}},
                "responses": {
                    "201": {"description": "Applied", "content": {"application/json": {"schema": answer}}},
                    "202": {
                        "description": "Published, not applied yet",
                        "content": {"application/json": {"schema": answer}},
                    },
                    "400": error,
                    "401": error,
                    "404": error,
                    "422": invalid,
                    "503": error,
                },
            },
        }
    return paths
