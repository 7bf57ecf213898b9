"""Handing a process's freed memory back to the system.

glibc keeps the pages a process freed (per-thread arenas): after a large batch or
a curve fit the RSS stays at its high-water mark though nothing uses it.
``malloc_trim`` returns them; it is a no-op where glibc is not the allocator.
pyarrow's own pool (mimalloc or jemalloc) keeps the pages of freed Arrow buffers
too: ``release_freed_memory`` returns both. The embedded ClickHouse engine's
allocator is the store's to purge (``ClickHouseStore.release_memory``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

import pyarrow as pa

__all__ = ["malloc_trim", "release_freed_memory"]


def _load_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _load_trim()


def malloc_trim() -> bool:
    """Return the C heap's free pages to the system; False where glibc is not the allocator."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


def release_freed_memory() -> None:
    """Return the free pages of pyarrow's memory pool, then of the C heap, to the system."""
    pa.default_memory_pool().release_unused()
    malloc_trim()
