"""Patches of faust internals that Takeback needs, each in its own module and each checked when installed."""

from __future__ import annotations

from streams.faust_patches import fetch_wait, flow_resume, recovery_end, seek_uncommitted, table_start
from streams.faust_patches.guard import FaustInternalsChanged
from streams.settings import Settings

__all__ = ["FaustInternalsChanged", "install_patches"]


def install_patches(settings: Settings) -> None:
    """Install every patch; raises FaustInternalsChanged when faust no longer has what one replaces."""
    fetch_wait.install(settings.fetch_max_wait_ms)
    seek_uncommitted.install()
    recovery_end.install(settings)
    table_start.install()
    flow_resume.install()
