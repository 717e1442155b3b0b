"""Patch: the table manager starts recovery at once, not after faust's fixed one-second sleep.

faust's `TableManager.on_start` sleeps 1 s so that tables declared late (by agents as they start) are registered
before the changelogs are subscribed. Takeback declares every table when it builds the app, before the worker
starts (streams/app.py), so the sleep only delays every worker start, `replay` included (docs/benchmarks.md).
A table added after the start still fails loudly in faust ("Too late to add tables").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.tables.manager import TableManager

from streams.faust_patches.guard import expected_method, expected_source_mentions

PATCH = "start tables without the fixed sleep"


def install() -> None:
    original = check(TableManager)

    async def on_start(self: Any) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()

    TableManager._takeback_original_on_start = original
    TableManager.on_start = on_start


def check(manager: type = TableManager) -> Callable[..., Any]:
    """faust's `on_start` is the sleep, then `_update_channels()` and `recovery.start()`: what the patch runs.

    Once installed, faust's method (checked then) is kept aside and is what this returns."""
    installed = getattr(manager, "_takeback_original_on_start", None)
    if installed is not None:
        return installed
    method = expected_method(manager, "on_start", ("self",), coroutine=True, patch=PATCH)
    for step in ("self.sleep(1.0)", "self._update_channels()", "self.recovery.start()"):
        expected_source_mentions(manager, "on_start", step, patch=PATCH)
    return method
