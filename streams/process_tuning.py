"""How a worker process manages its memory: large buffers back to the OS, long-lived state out of full GC passes.

For a worker process only (`takeback worker`), not for the tests or the CLI. What each bought:
docs/benchmarks.md.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD_BYTES = 128 * 1024


def return_large_buffers_to_the_os() -> None:
    """Serve every allocation over 128 KiB with its own mmap, so freeing it gives the memory back.

    A ledger write is one value of up to megabytes, and a batch makes one per provider it touched. glibc raises
    its mmap threshold after the first such free and serves the rest from the heap, which then never shrinks.
    (Same as MALLOC_MMAP_THRESHOLD_=131072; glibc only, a no-op elsewhere.)
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
    except (OSError, AttributeError):
        pass


def keep_state_out_of_full_collections() -> None:
    """Install the collector hook below, once per process."""
    if _freeze_after_full_collections not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full_collections)


def _freeze_after_full_collections(phase: str, info: dict[str, int]) -> None:
    """After each full (generation 2) collection, move the survivors out of the cyclic GC's reach.

    The ledgers are millions of long-lived objects, and a full collection walks every tracked one: those pauses
    were most of the p99 latency. Frozen this way each pass walks only what survived since the last one.
    Frozen objects are still freed by reference counting; only cyclic garbage among them would stay.
    """
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()
