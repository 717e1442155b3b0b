"""Who may sign in and what they may do (rules §12): people, roles, sessions, sign-in locks, safe redirects.

Plain code with no Kafka or web server in it: streams/people.py keeps these records on a topic, streams/security.py
checks requests with them. Passwords are hashed with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes), so a
stolen topic costs an attacker that much memory per guess.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# Ordered: each role may do what the ones before it may.
ROLES = ("viewer", "biller", "admin")
NAME = re.compile(r"[A-Za-z][A-Za-z0-9._@-]{0,63}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 takes any length; a megabyte "password" would only be a way to burn CPU

_hasher = PasswordHasher()  # argon2id
# Verified when the name is unknown, so a wrong name takes as long as a wrong password (no name probing by timing).
_DUMMY_HASH = _hasher.hash("no such person: this hash is only ever compared against")


class BadPerson(ValueError):
    """A name, role or password that cannot be used; the message says why (never quoting the password)."""


def role_allows(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise BadPerson("a name is 1 to 64 letters, digits, dots, dashes, underscores or @, starting with a letter")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadPerson(f"a role is one of: {', '.join(ROLES)}")
    return role


def hash_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise BadPerson(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; an unknown person (None) costs the same time and is False."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Person:
    name: str
    role: str
    password_hash: str
    disabled: bool = False
    # When the record last changed (seconds since the epoch): sessions started before it end, so a reset password,
    # a changed role or a disabled person takes effect on every open browser at once.
    changed_at: float = 0.0

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Person:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class SessionRecord:
    """A signed-in browser. `name` is the person, or "" for a browser signed in with the machine token."""

    name: str
    created: float
    last_seen: float

    def alive(self, now: float, idle_seconds: float, max_seconds: float) -> bool:
        return now - self.last_seen < idle_seconds and now - self.created < max_seconds

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SessionRecord:
        return cls(**json.loads(raw))


@dataclass(frozen=True)
class SigninLimit:
    """After `free` wrong passwords in a row a name is locked, `base_seconds` at first, doubling with each further
    wrong password, at most `max_seconds`. Attempts while locked are refused unchecked and do not count."""

    free: int = 5
    base_seconds: float = 60.0
    max_seconds: float = 3600.0

    def locked_until(self, failures: Failures | None) -> float:
        if failures is None or failures.count < self.free:
            return 0.0
        return failures.last + min(self.base_seconds * 2 ** (failures.count - self.free), self.max_seconds)


@dataclass(frozen=True)
class Failures:
    count: int
    last: float

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Failures:
        return cls(**json.loads(raw))


def local_path(target: str | None) -> str:
    """Where to go after signing in: only a path on this server, else "/".

    Browsers drop tab, CR and LF from URLs and read a backslash as a slash, so "/\\t/evil.example/" and "/\\evil"
    both become "//evil.example/", another host: any control character, backslash or leading "//" is refused.
    """
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target
