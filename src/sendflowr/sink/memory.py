"""Giving freed memory back to the system between batches.

A batch of records lives as Kafka messages, decoded events and JSON lines, then
ClickHouse's parse and insert buffers; all of it is freed once the batch is
written. The allocators keep the freed pages: glibc's per-thread arenas (the
consumer and writer threads allocate in different ones) and the embedded
engine's jemalloc. At tens of millions of events the sink's RSS then climbs by
hundreds of MB that nothing uses. ``MemoryReleaser.after_batch`` hands them back:
``malloc_trim(0)`` (glibc only; a no-op elsewhere) and, for the embedded engine,
``SYSTEM JEMALLOC PURGE``, each at most once per its interval
while batches keep coming, and once more when the sink falls idle.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final

from sendflowr.process.memory import malloc_trim

__all__ = ["MemoryReleaser", "malloc_trim"]

_log = logging.getLogger("sendflowr.sink")

#: Seconds between two glibc trims while batches come. A trim walks every free chunk of
#: every arena: 40-190 ms measured on a fragmented heap of ~0.5 GB, so at most ~4% of a core.
TRIM_EVERY: Final = 5.0
#: Seconds between two jemalloc purges of the embedded engine (a query: ~10-30 ms).
PURGE_EVERY: Final = 5.0


class MemoryReleaser:
    """Releases freed memory after batches, rate-limited.

    ``purge``: runs the embedded engine's jemalloc purge (None: no embedded engine,
    e.g. a ClickHouse server, whose memory is not this process's); ``clock``:
    monotonic seconds.
    """

    def __init__(
        self,
        purge: Callable[[], None] | None = None,
        *,
        trim: Callable[[], bool] = malloc_trim,
        trim_every: float = TRIM_EVERY,
        purge_every: float = PURGE_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._purge = purge
        self._trim = trim
        self._trim_every = trim_every
        self._purge_every = purge_every
        self._clock = clock
        self._trimmed_at = self._purged_at = clock()
        self._pending = False

    def after_batch(self) -> None:
        """Call after a batch was written and its memory dropped: releases what is due."""
        self._pending = True
        self._release(force=False)

    def when_idle(self) -> None:
        """Call when nothing waits to be written: releases now, if a batch came since the
        last full release."""
        if self._pending:
            self._release(force=True)

    def _release(self, *, force: bool) -> None:
        now = self._clock()
        purged = self._purge is None
        if self._purge is not None and (force or now - self._purged_at >= self._purge_every):
            self._purged_at = now
            purged = True
            try:
                self._purge()
            except Exception as exc:  # releasing memory must never stop the sink
                _log.debug("jemalloc purge failed (%s); not trying again", exc)
                self._purge = None
        trimmed = False
        if force or now - self._trimmed_at >= self._trim_every:
            self._trimmed_at = now
            trimmed = True
            self._trim()
        if purged and trimmed:
            self._pending = False
