"""The check every faust patch runs when it is installed: the internal it replaces still looks as expected.

The patches replace private faust/aiokafka methods, which may change in any release. An upgrade that moved or
changed one must stop the worker at start-up with a clear reason, not quietly run without the fix.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from importlib import metadata
from typing import Any

_MISSING = object()


class FaustInternalsChanged(RuntimeError):
    """A faust or aiokafka internal that a Takeback patch replaces is missing or has changed."""


def library_versions() -> str:
    found = []
    for name in ("faust-streaming", "aiokafka"):
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _fail(owner: type, name: str, problem: str, patch: str) -> FaustInternalsChanged:
    return FaustInternalsChanged(
        f"{owner.__module__}.{owner.__qualname__}.{name} {problem}, so the patch '{patch}' cannot be installed "
        f"({library_versions()}); check streams/faust_patches/ against this version"
    )


def _shown(parameter: inspect.Parameter) -> str:
    prefix = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}.get(parameter.kind, "")
    return prefix + parameter.name


def expected_method(
    owner: type, name: str, parameters: Sequence[str], *, coroutine: bool, patch: str
) -> Callable[..., Any]:
    """`owner.name`, checked to be a function (async when `coroutine`) taking exactly `parameters` (`*name` for
    a variable number of positional arguments)."""
    method = getattr(owner, name, _MISSING)
    if method is _MISSING:
        raise _fail(owner, name, "does not exist", patch)
    if not callable(method):
        raise _fail(owner, name, "is not callable", patch)
    if inspect.iscoroutinefunction(method) != coroutine:
        raise _fail(owner, name, "is async" if not coroutine else "is not async", patch)
    try:
        found = [_shown(p) for p in inspect.signature(method).parameters.values()]
    except (TypeError, ValueError):
        raise _fail(owner, name, "has no readable signature", patch) from None
    if found != list(parameters):
        raise _fail(owner, name, f"takes ({', '.join(found)}), not ({', '.join(parameters)})", patch)
    return method


def expected_source_mentions(owner: type, name: str, text: str, *, patch: str) -> None:
    """`owner.name`'s source contains `text`: for a private attribute the patch sets and the method reads."""
    try:
        source = inspect.getsource(getattr(owner, name))
    except (AttributeError, OSError, TypeError):
        raise _fail(owner, name, "has no readable source", patch) from None
    if text not in source:
        raise _fail(owner, name, f"no longer reads {text}", patch)
