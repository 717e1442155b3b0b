"""Access: Kafka TLS/SASL for every client, and the bearer token of the HTTP API.

One place turns the TAKEBACK_KAFKA_* / TAKEBACK_API_TOKEN settings into what
Faust and the raw aiokafka clients take, so the worker, feeds and `replay`
connect the same way.  Secrets are never logged (Settings hides them in repr).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import ssl
from typing import Any
from urllib.parse import quote

from streams.settings import Settings

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


# Probes carry no data; /metrics carries no patient data (counts, dollars, provider ids) and is scraped by
# Prometheus: keep its port on the cluster network. Everything else (the cash table, takebacks) needs the token.
# The browser pages' sign-in form and their static files (CSS, htmx) carry no data either.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/signin"})
OPEN_PREFIXES = ("/static/",)
SESSION_COOKIE = "takeback_session"


def token_accepted(settings: Settings, authorization: str | None) -> bool:
    if not settings.api_token:
        return True
    expected = f"Bearer {settings.api_token}"
    return authorization is not None and hmac.compare_digest(authorization.encode(), expected.encode())


def session_value(settings: Settings) -> str:
    """What the sign-in cookie holds: derived from the token, so the token itself never sits in a browser."""
    return hmac.new(settings.api_token.encode(), b"takeback browser session", hashlib.sha256).hexdigest()


def session_accepted(settings: Settings, cookie: str | None) -> bool:
    if not settings.api_token:
        return True
    return cookie is not None and hmac.compare_digest(cookie.encode(), session_value(settings).encode())


def bearer_token_middleware(settings: Settings) -> Any:
    """aiohttp middleware: every path but the probes needs `Authorization: Bearer <token>` when one is set.

    A browser signed in through /signin sends the session cookie instead; a browser that is not signed in is
    sent to the sign-in form rather than shown a JSON error.
    """
    from aiohttp import web

    @web.middleware
    async def require_token(request: web.Request, handler: Any) -> web.StreamResponse:
        if (
            request.path in OPEN_PATHS
            or request.path.startswith(OPEN_PREFIXES)
            or token_accepted(settings, request.headers.get("Authorization"))
            or session_accepted(settings, request.cookies.get(SESSION_COOKIE))
        ):
            return await handler(request)
        if request.method == "GET" and "text/html" in request.headers.get("Accept", ""):
            raise web.HTTPSeeOther(f"/signin?next={quote(request.path_qs, safe='')}")
        return web.json_response(
            {"error": "missing or wrong bearer token"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )

    return require_token
