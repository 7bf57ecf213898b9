"""The week grid: slot 0 is Monday 00:00 UTC, the week wraps, hours are a projection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sendflowr.timing.grid import (
    SLOTS_PER_WEEK,
    epoch_minute,
    from_epoch_minute,
    hour_of_day,
    hourly_projection,
    minute_of_hour,
    slot_label,
    slot_of,
    slots_of_minutes,
    weekday,
)


def test_slot_zero_is_monday_midnight_utc() -> None:
    monday = datetime(2025, 10, 6, 0, 0, tzinfo=UTC)
    assert monday.weekday() == 0
    assert slot_of(monday) == 0
    assert slot_of(monday + timedelta(minutes=1)) == 1
    assert slot_of(monday - timedelta(minutes=1)) == SLOTS_PER_WEEK - 1
    assert slot_label(0) == "Mon 00:00"
    assert slot_label(SLOTS_PER_WEEK - 1) == "Sun 23:59"


def test_week_wraps_around() -> None:
    sunday_late = datetime(2025, 10, 12, 23, 59, tzinfo=UTC)
    minutes = np.arange(epoch_minute(sunday_late), epoch_minute(sunday_late) + 3)
    assert slots_of_minutes(minutes).tolist() == [SLOTS_PER_WEEK - 1, 0, 1]
    assert slot_of(sunday_late + timedelta(days=7)) == SLOTS_PER_WEEK - 1


def test_slot_parts_match_datetime() -> None:
    ts = datetime(2026, 1, 8, 17, 42, 31, tzinfo=UTC)
    slot = slot_of(ts)
    assert int(weekday(slot)) == ts.weekday()
    assert int(hour_of_day(slot)) == 17
    assert int(minute_of_hour(slot)) == 42
    assert from_epoch_minute(epoch_minute(ts)) == ts.replace(second=0)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        slot_of(datetime(2025, 10, 6, 0, 0))  # noqa: DTZ001


def test_hourly_projection_is_the_hour_of_day_mean() -> None:
    curve = np.zeros(SLOTS_PER_WEEK)
    curve[9 * 60 : 10 * 60] = 1.0  # Monday 09:xx
    curve[1440 + 9 * 60 + 30] = 60.0  # Tuesday 09:30 only
    hourly = hourly_projection(curve)
    assert hourly.shape == (24,)
    assert int(np.argmax(hourly)) == 9
    assert hourly[9] == pytest.approx((60 + 60) / (7 * 60))
    with pytest.raises(ValueError):
        hourly_projection(np.zeros(100))
