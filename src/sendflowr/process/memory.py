"""Handing a process's freed C heap back to the system.

glibc keeps the pages a process freed (per-thread arenas): after a large batch or
a curve fit the RSS stays at its high-water mark though nothing uses it.
``malloc_trim`` returns them; it is a no-op where glibc is not the allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

__all__ = ["malloc_trim"]


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
