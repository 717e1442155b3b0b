"""Sign-in, sign-out and the admin's People page (rules §12).

A person signs in by name and password (argon2id, checked off the event loop: a check takes tens of milliseconds of
CPU the agents share). Until the first person is added, a worker with a token takes the token instead, so an
operator can reach the People page. Wrong passwords lock the name (SigninLimit); the lock is on the access topic, so
every worker honours it (a name nobody has is counted on the worker that saw it only).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import secrets
import time
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from faust.web import Request, View

from streams.domain.access import MIN_PASSWORD, ROLES, BadPerson, SigninLimit, local_path, verify_password
from streams.people import change_person
from streams.security import (
    SESSION_COOKIE,
    TOKEN_SESSION_NAME,
    current_principal,
    is_open_demo,
    new_session,
    require_role,
    session_alive,
    set_session_cookie,
)

if TYPE_CHECKING:
    from streams.container import TakebackApp


class Pages(Protocol):
    """What these views use of streams/pages/views.py's Pages (named here: views imports this module)."""

    tb: TakebackApp

    def page(self, template: str, status: int = 200, **context: Any) -> web.Response: ...


MAX_NAME_TYPED = 64  # a typed name longer than any real one is cut before it is counted


def signin_limit(pages: Pages) -> SigninLimit:
    settings = pages.tb.settings
    return SigninLimit(free=settings.signin_free_attempts, base_seconds=settings.signin_lock_seconds)


def _clock(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def signin_form(pages: Pages, request: web.Request, status: int = 200, **shown: object) -> web.StreamResponse:
    directory, settings = pages.tb.access, pages.tb.settings
    if is_open_demo(settings, directory):
        raise web.HTTPSeeOther("/")
    context = {"next": local_path(request.query.get("next")), "wrong": False, "locked": "", "name": ""} | shown
    return pages.page("signin.html", status=status, by_token=not directory.people, **context)


async def signin(pages: Pages, request: web.Request) -> web.StreamResponse:
    form = await request.post()
    directory, settings = pages.tb.access, pages.tb.settings
    next_path = local_path(str(form.get("next", "/")))
    if is_open_demo(settings, directory):
        raise web.HTTPSeeOther(next_path)
    if not directory.people:  # nobody added yet: the operator signs in with the token
        token = str(form.get("token", ""))
        if not hmac.compare_digest(token.encode(), settings.api_token.encode()):
            return signin_form(pages, request, status=401, next=next_path, wrong=True)
        return await start_session(pages, request, TOKEN_SESSION_NAME, next_path)
    name = str(form.get("name", "")).strip()[:MAX_NAME_TYPED]
    password = str(form.get("password", ""))
    now = time.time()
    locked_until = signin_limit(pages).locked_until(directory.failures_of(name))
    if now < locked_until:
        return signin_form(pages, request, status=429, next=next_path, name=name, locked=_clock(locked_until))
    person = directory.people.get(name)
    loop = asyncio.get_running_loop()
    matches = await loop.run_in_executor(None, verify_password, person.password_hash if person else None, password)
    if matches and person is not None and not person.disabled:
        await directory.clear_failures(name)
        return await start_session(pages, request, name, next_path)
    await directory.count_failure(name, now)
    return signin_form(pages, request, status=401, next=next_path, name=name, wrong=True)


async def start_session(pages: Pages, request: web.Request, name: str, next_path: str) -> web.StreamResponse:
    """A new random id every sign-in (an id planted before it is worth nothing); the old session, if any, ends."""
    directory, settings = pages.tb.access, pages.tb.settings
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await directory.end_session(old)
    session_id = secrets.token_urlsafe(32)
    now = time.time()
    await directory.put_session(session_id, new_session(name, now))
    await directory.drop_expired_sessions(lambda record: session_alive(settings, record, now))
    response = web.HTTPSeeOther(next_path)
    set_session_cookie(settings, request, response, session_id)
    return response


async def signout(pages: Pages, request: web.Request) -> web.StreamResponse:
    principal = current_principal(request)
    if principal is not None and principal.via == "session":
        await pages.tb.access.end_session(principal.session_id)
    response = web.HTTPSeeOther("/signin")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


def people_page(pages: Pages, request: web.Request, message: str = "", failed: bool = False) -> web.StreamResponse:
    require_role(request, "admin")
    directory = pages.tb.access
    limit, now = signin_limit(pages), time.time()
    locks = {
        name: _clock(until)
        for name in directory.people
        if (until := limit.locked_until(directory.failures_of(name))) > now
    }
    people = sorted(directory.people.values(), key=lambda p: p.name)
    return pages.page(
        "people.html",
        people=people,
        roles=ROLES,
        locks=locks,
        message=message,
        failed=failed,
        min_password=MIN_PASSWORD,
    )


async def change_people(pages: Pages, request: web.Request) -> web.StreamResponse:
    """One change a form asks for; the page again, saying what was done or why not (never quoting a password)."""
    principal = require_role(request, "admin")
    form = await request.post()
    op, name = str(form.get("op", "")), str(form.get("name", "")).strip()
    directory = pages.tb.access
    try:
        done = await change_person(directory, op, name, str(form.get("role", "")), str(form.get("password", "")))
    except BadPerson as exc:
        return people_page(pages, request, f"Not done: {exc}.", failed=True)
    # The first person ends the open demo: this browser has no session yet, so it is sent to sign in.
    if principal.via == "open" and directory.people:
        raise web.HTTPSeeOther("/signin?next=/admin/people")
    return people_page(pages, request, done)


def register_access_pages(pages: Pages) -> None:
    app = pages.tb.app

    @app.page("/signin")
    class SignIn(View):
        async def get(self, request: Request) -> web.StreamResponse:
            return signin_form(pages, request)

        async def post(self, request: Request) -> web.StreamResponse:
            return await signin(pages, request)

    @app.page("/signout")
    class SignOut(View):
        async def post(self, request: Request) -> web.StreamResponse:
            return await signout(pages, request)

    @app.page("/admin/people")
    class People(View):
        async def get(self, request: Request) -> web.StreamResponse:
            return people_page(pages, request)

        async def post(self, request: Request) -> web.StreamResponse:
            return await change_people(pages, request)
