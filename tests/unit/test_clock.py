"""The clock: the system one is aware UTC; a manual one moves only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sendflowr.clock import SYSTEM_CLOCK, ManualClock
from sendflowr.errors import ValidationError


def test_the_system_clock_is_timezone_aware_utc() -> None:
    now = SYSTEM_CLOCK.now()
    assert now.tzinfo is UTC
    assert abs((datetime.now(UTC) - now).total_seconds()) < 5


def test_a_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=1))))
    assert clock.now() == datetime(2026, 1, 1, 8, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    assert clock.advance(timedelta(minutes=90)) == datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
    assert clock.now() == datetime(2026, 1, 1, 9, 30, tzinfo=UTC)
    with pytest.raises(ValidationError):
        clock.set(datetime(2026, 1, 1))  # noqa: DTZ001 - the naive time under test
