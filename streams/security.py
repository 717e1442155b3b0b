"""Access: Kafka TLS/SASL for every client, and who may use the HTTP API and pages (rules §12).

One place turns the TAKEBACK_KAFKA_* / TAKEBACK_API_TOKEN settings into what
Faust and the raw aiokafka clients take, so the worker, feeds and `replay`
connect the same way.  Secrets are never logged (Settings hides them in repr).

HTTP: a request is made by the machine token (`Authorization: Bearer`, for the API and scripts), by a person's
browser session (a random id in an HttpOnly cookie, kept on the access topic: streams/people.py), or, on a
loopback-only demo with neither people nor a token set up, by anyone on the machine (the pages say so). A request
made with a session cookie that changes something carries the session's cross-site token (`csrf_field()` in a form,
the X-CSRF-Token header from htmx), which another site cannot read. Views that act call `require_role`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import ssl
import time
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

from markupsafe import Markup

from streams.domain.access import Person, SessionRecord, role_allows
from streams.settings import Settings

if TYPE_CHECKING:
    from aiohttp import web


class AccessDirectory(Protocol):
    """What the checks read of streams/people.py's AccessDirectory (named here: people imports this module)."""

    people: dict[str, Person]
    loaded: asyncio.Event

    async def session(self, session_id: str, wait: float) -> SessionRecord | None: ...

    async def put_session(self, session_id: str, record: SessionRecord) -> None: ...

    async def end_session(self, session_id: str) -> None: ...


LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class InsecureConfiguration(ValueError):
    """A setting combination that would expose data; the worker refuses to start."""


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if "SSL" not in settings.kafka_security_protocol:
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile or None)
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile or None)
    return context


def kafka_client_kwargs(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for aiokafka producers, consumers and admin clients."""
    kwargs: dict[str, Any] = {"security_protocol": settings.kafka_security_protocol}
    context = ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        kwargs.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return kwargs


def faust_credentials(settings: Settings) -> Any:
    """`broker_credentials` for the Faust app (None for PLAINTEXT)."""
    import faust
    from faust.types.auth import SASLMechanism

    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    return faust.SASLCredentials(
        username=settings.kafka_sasl_username,
        password=settings.kafka_sasl_password,
        ssl_context=ssl_context(settings),
        mechanism=SASLMechanism(settings.kafka_sasl_mechanism),
    )


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_exposure(settings: Settings) -> None:
    """The API shows payment data: off loopback it needs a bearer token."""
    if settings.web_enabled and not is_loopback(settings.web_host) and not settings.api_token:
        raise InsecureConfiguration(
            f"the HTTP API would listen on {settings.web_host} without a token: set TAKEBACK_API_TOKEN "
            "or TAKEBACK_WEB_HOST=127.0.0.1"
        )


# Probes and the sign-in form carry no data, nor do the static files (CSS, htmx). /metrics (net cash per NPI)
# needs the token like the rest: Prometheus sends it (deploy/prometheus/prometheus.yml, credentials_file).
PROBES = frozenset({"/healthz", "/readyz"})
OPEN_PATHS = PROBES | {"/signin"}
OPEN_PREFIXES = ("/static/",)
SESSION_COOKIE = "takeback_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PRINCIPAL_KEY = "takeback.principal"
# A session started on another worker reaches this one within a fetch of the access topic: wait that long for it.
SESSION_WAIT_SECONDS = 1.0

# Every response: no script or style but the worker's own files, no framing, no MIME sniffing, no full URLs (they
# carry provider ids and filters) sent to other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a person (their role), the machine token (admin), or anyone, in the open demo."""

    name: str
    role: str
    via: str  # "session", "token" or "open"
    session_id: str = field(default="", repr=False)

    @property
    def csrf_token(self) -> str:
        if self.via != "session":
            return ""
        return hmac.new(self.session_id.encode(), b"takeback cross-site token", hashlib.sha256).hexdigest()


TOKEN_PRINCIPAL = Principal("api token", "admin", "token")
OPEN_PRINCIPAL = Principal("anyone on this machine", "admin", "open")
TOKEN_SESSION_NAME = ""  # the SessionRecord name of a browser signed in with the machine token

# The request's principal for templates (`csrf_field()`, `signed_in()`), set by the middleware for the request's task.
_current: ContextVar[Principal | None] = ContextVar("takeback_principal", default=None)


def current_principal(request: web.Request) -> Principal | None:
    return request.get(PRINCIPAL_KEY)


def require_role(request: web.Request, role: str) -> Principal:
    """The principal of a request that may do what `role` may; else the request ends with 403."""
    from aiohttp import web

    principal = current_principal(request)
    if principal is None or not role_allows(principal.role, role):
        raise web.HTTPForbidden(text=f"This needs the role '{role}' or higher.")
    return principal


def signed_in() -> Principal | None:
    """For templates: who the page is for."""
    return _current.get()


def may(role: str) -> bool:
    """For templates: whether the page's reader may do what `role` may (a viewer is shown no action controls)."""
    principal = _current.get()
    return principal is not None and role_allows(principal.role, role)


def csrf_field() -> Markup:
    """For templates: the hidden field every form that POSTs carries."""
    principal = _current.get()
    if principal is None or principal.via != "session":
        return Markup("")
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, principal.csrf_token)


def same_origin(request: web.Request) -> bool:
    """False when a browser says the request comes from another site (Origin, or Sec-Fetch-Site)."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return urlsplit(origin).netloc == request.host
    return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")


async def cross_site_token_ok(request: web.Request) -> bool:
    """The one check for requests that change something (the middleware runs it on every such request).

    Bearer requests are exempt (a browser never adds the header by itself); the open demo has no session, so there
    the browser's Origin must be this server; a session's request must carry its token, in the X-CSRF-Token header
    (htmx) or the csrf_token form field.
    """
    principal = current_principal(request)
    if request.method not in UNSAFE_METHODS or principal is None or principal.via == "token":
        return True
    if principal.via == "open":
        return same_origin(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = (await request.post()).get(CSRF_FIELD)  # aiohttp keeps the parsed form for the view
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), principal.csrf_token.encode())


def caller_credentials(request: web.Request) -> dict[str, str]:
    """The caller's token or session cookie, for a request this worker makes to another one on the caller's behalf."""
    return {h: request.headers[h] for h in ("Authorization", "Cookie") if h in request.headers}


def token_accepted(settings: Settings, authorization: str | None) -> bool:
    expected = f"Bearer {settings.api_token}"
    return (
        bool(settings.api_token)
        and authorization is not None
        and hmac.compare_digest(authorization.encode(), expected.encode())
    )


def is_open_demo(settings: Settings, directory: AccessDirectory) -> bool:
    """No token and nobody to sign in: the worker is loopback-only (check_api_exposure) and open to this machine."""
    return not settings.api_token and not directory.people


def session_alive(settings: Settings, record: SessionRecord, now: float) -> bool:
    return record.alive(now, settings.session_idle_minutes * 60, settings.session_max_hours * 3600)


async def session_principal(settings: Settings, directory: AccessDirectory, session_id: str) -> Principal | None:
    record = await directory.session(session_id, wait=SESSION_WAIT_SECONDS)
    if record is None:
        return None
    now = time.time()
    if not session_alive(settings, record, now):
        await directory.end_session(session_id)
        return None
    if record.name == TOKEN_SESSION_NAME:
        if not settings.api_token:
            return None
        principal = Principal(TOKEN_PRINCIPAL.name, TOKEN_PRINCIPAL.role, "session", session_id)
    else:
        person = directory.people.get(record.name)
        if person is None or person.disabled or person.changed_at > record.created:
            return None
        principal = Principal(person.name, person.role, "session", session_id)
    # last_seen is written at most every tenth of the idle limit (a minute at most), not at every request
    if now - record.last_seen > min(60.0, settings.session_idle_minutes * 6):
        await directory.put_session(session_id, replace(record, last_seen=now))
    return principal


async def authenticate(settings: Settings, directory: AccessDirectory, request: web.Request) -> Principal | None:
    authorization = request.headers.get("Authorization")
    if authorization is not None and settings.api_token:
        return TOKEN_PRINCIPAL if token_accepted(settings, authorization) else None
    if is_open_demo(settings, directory):
        return OPEN_PRINCIPAL  # a cookie left from an earlier run means nothing here (and is not waited for)
    session_id = request.cookies.get(SESSION_COOKIE)
    return await session_principal(settings, directory, session_id) if session_id else None


def new_session(name: str, now: float) -> SessionRecord:
    return SessionRecord(name=name, created=now, last_seen=now)


def set_session_cookie(settings: Settings, request: web.Request, response: web.StreamResponse, session_id: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="Lax",  # Lax: a link from an e-mail to a page opens signed in; cross-site POSTs carry no cookie
        secure=settings.cookie_secure or request.secure,
        path="/",
        max_age=int(settings.session_max_hours * 3600),
    )


STARTING_WAIT_SECONDS = 15.0


async def _loaded(directory: AccessDirectory) -> bool:
    """Whether the directory of people has been read; a request in a worker's first seconds waits for it (a few
    records to read) rather than failing, and gets a 503 only if reading takes longer than that."""
    if directory.loaded.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(directory.loaded.wait(), STARTING_WAIT_SECONDS)
    return directory.loaded.is_set()


def access_middleware(settings: Settings, directory: AccessDirectory) -> Any:
    """aiohttp middleware: who makes the request, whether they may, and the cross-site check of every change.

    A browser that is not signed in is sent to the sign-in form rather than shown a JSON error.
    """
    from aiohttp import web

    @web.middleware
    async def guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path in PROBES or request.path.startswith(OPEN_PREFIXES):
            return await handler(request)
        if not await _loaded(directory):
            return web.json_response({"error": "starting: still reading who may sign in"}, status=503)
        principal = await authenticate(settings, directory, request)
        request[PRINCIPAL_KEY] = principal
        _current.set(principal)
        if principal is None and request.path not in OPEN_PATHS:
            if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
                raise web.HTTPSeeOther(f"/signin?next={quote(request.path_qs, safe='')}")
            return web.json_response(
                {"error": "missing or wrong bearer token, or no session"},
                status=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        # the sign-in form itself: no session yet, so the browser's Origin must be this server (login CSRF)
        allowed = same_origin(request) if principal is None else await cross_site_token_ok(request)
        if request.method in UNSAFE_METHODS and not allowed:
            return web.Response(
                status=403, text="Refused: a cross-site request, or a form without its token. Reload the page."
            )
        return await handler(request)

    return guard


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every response, errors and downloads included, carries the headers and names no server
    (aiohttp sets Server to its version before this runs)."""
    response.headers.update(SECURITY_HEADERS)
    response.headers.popall("Server", None)
