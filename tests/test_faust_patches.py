"""The faust patches check, when installed, that the internals they replace still look as expected.

The stand-in classes below are not mocks of Kafka: they are what a changed faust release could look like, to show
that our guard refuses them with a clear reason.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from mode.utils.queues import FlowControlEvent

from streams.faust_patches import (
    FaustInternalsChanged,
    fetch_wait,
    flow_resume,
    install_patches,
    recovery_end,
    seek_uncommitted,
    table_start,
)
from streams.faust_patches.guard import library_versions
from streams.settings import Settings


class ConsumerReadingTheWait:
    async def start(self) -> None:
        self.fetcher = {"wait": self._fetch_max_wait_ms}

    _fetch_max_wait_ms = 500


class ConsumerWithAnotherWait:
    async def start(self) -> None:
        self.fetcher = {"wait": 500}


class Thread:
    def _create_worker_consumer(self, transport: Any) -> Any:
        return transport

    async def seek_to_committed(self) -> dict:
        return {}

    async def seek_to_beginning(self, *partitions: Any) -> None:
        return None


class ThreadOfAnotherRelease:
    _create_worker_consumer = "moved to the transport"

    def seek_to_committed(self) -> dict:  # no longer async
        return {}

    async def seek_to_beginning(self, partitions: list) -> None:  # one list instead of *partitions
        return None


class RecoveryOfAnotherRelease:
    async def _build_highwaters(self, consumer: Any, tps: Any, destination: Any) -> None:  # `title` gone
        return None


def test_the_installed_faust_has_what_every_patch_replaces() -> None:
    assert callable(fetch_wait.check(AIOKafkaConsumerThread))
    assert callable(seek_uncommitted.check(AIOKafkaConsumerThread))
    assert callable(recovery_end.check(Recovery))
    assert callable(table_start.check(TableManager))
    assert callable(flow_resume.check(FlowControlEvent, Recovery))


def test_installing_twice_wraps_faust_once() -> None:
    install_patches(Settings())
    original = AIOKafkaConsumerThread._takeback_original_create
    install_patches(Settings(fetch_max_wait_ms=7))
    assert AIOKafkaConsumerThread._takeback_original_create is original
    assert original.__qualname__ == "AIOKafkaConsumerThread._create_worker_consumer"
    assert Recovery._takeback_original_highwaters.__qualname__ == "Recovery._build_highwaters"


def test_a_stand_in_that_looks_like_faust_passes() -> None:
    assert fetch_wait.check(Thread, ConsumerReadingTheWait) is Thread._create_worker_consumer
    assert seek_uncommitted.check(Thread) is Thread.seek_to_committed


def test_a_missing_method_fails_naming_it_and_the_faust_version() -> None:
    class Empty:
        pass

    with pytest.raises(FaustInternalsChanged) as failure:
        recovery_end.check(Empty)
    message = str(failure.value)
    assert "Empty._build_highwaters does not exist" in message
    assert "faust-streaming 0.15" in message and library_versions() in message
    assert "recover to the true end of changelogs" in message


def test_an_attribute_that_is_no_longer_callable_fails() -> None:
    with pytest.raises(FaustInternalsChanged, match="_create_worker_consumer is not callable"):
        fetch_wait.check(ThreadOfAnotherRelease, ConsumerReadingTheWait)


def test_a_consumer_that_no_longer_reads_the_wait_fails() -> None:
    with pytest.raises(FaustInternalsChanged, match=r"start no longer reads self\._fetch_max_wait_ms"):
        fetch_wait.check(Thread, ConsumerWithAnotherWait)


def test_a_method_no_longer_async_fails() -> None:
    with pytest.raises(FaustInternalsChanged, match="seek_to_committed is not async"):
        seek_uncommitted.check(ThreadOfAnotherRelease)


def test_changed_parameters_fail_showing_both() -> None:
    with pytest.raises(FaustInternalsChanged, match=r"takes \(self, consumer, tps, destination\), not \(.*title\)"):
        recovery_end.check(RecoveryOfAnotherRelease)

    class SeekWithAList(Thread):
        async def seek_to_beginning(self, partitions: list) -> None:
            return None

    with pytest.raises(
        FaustInternalsChanged, match=r"seek_to_beginning takes \(self, partitions\), not \(self, \*partitions\)"
    ):
        seek_uncommitted.check(SeekWithAList)


class TableManagerWithoutTheSleep:
    async def on_start(self) -> None:
        await self._update_channels()  # type: ignore[attr-defined]
        await self.recovery.start()  # type: ignore[attr-defined]


def test_a_table_manager_that_no_longer_sleeps_at_start_is_refused() -> None:
    # the patch replays faust's steps without the sleep: if faust changed those steps, it must not run
    with pytest.raises(FaustInternalsChanged, match=r"on_start no longer reads self\.sleep\(1\.0\)"):
        table_start.check(TableManagerWithoutTheSleep)


def test_the_installed_table_manager_starts_without_the_sleep() -> None:
    install_patches(Settings())
    assert TableManager._takeback_original_on_start.__qualname__ == "TableManager.on_start"
    assert "sleep" not in inspect.getsource(TableManager.on_start)


class FlowControlThatKeepsQueues:
    def resume(self) -> None:
        self._suspend.clear()  # type: ignore[attr-defined]

    def is_active(self) -> bool:
        return True


def test_a_flow_control_that_no_longer_empties_queues_on_resume_is_refused() -> None:
    # the patch skips mode's resume when flow runs: if resume no longer empties the queues, the reason is gone
    with pytest.raises(FaustInternalsChanged, match=r"resume no longer reads self\.clear\(\)"):
        flow_resume.check(FlowControlThatKeepsQueues, Recovery)
