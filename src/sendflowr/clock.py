"""Time, injected: the ``Clock`` protocol, the system clock and a manual clock.

Every part that needs "now" takes a ``Clock`` (default ``SYSTEM_CLOCK``) instead
of reading the wall clock itself, so tests and simulations run on a time of
their choosing (``ManualClock``). ``serve`` hands one clock to every role
(``serve.contract.Resources.clock``). Times are timezone-aware UTC.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from sendflowr.errors import ValidationError

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    """Where "now" comes from."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)


#: The one system clock (stateless; share it).
SYSTEM_CLOCK: Final = SystemClock()


class ManualClock:
    """A clock that moves only when told: fixed for tests, stepped by simulations.
    Thread-safe: a simulation steps it while the roles' threads read it."""

    def __init__(self, at: datetime) -> None:
        self._lock = threading.Lock()
        self.set(at)

    @classmethod
    def at_ms(cls, ms: int) -> ManualClock:
        """A clock set to epoch milliseconds ``ms``."""
        return cls(datetime.fromtimestamp(ms / 1000, tz=UTC))

    def now(self) -> datetime:
        """The time last set."""
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        """Move to ``at`` (timezone-aware; converted to UTC)."""
        if at.tzinfo is None:
            raise ValidationError("at", "a manual clock needs a timezone-aware time")
        with self._lock:
            self._at = at.astimezone(UTC)

    def set_ms(self, ms: int) -> None:
        """Move to epoch milliseconds ``ms``."""
        self.set(datetime.fromtimestamp(ms / 1000, tz=UTC))

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta``; return the new time."""
        with self._lock:
            self._at += delta
            return self._at
