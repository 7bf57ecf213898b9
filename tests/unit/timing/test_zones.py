"""The engine's zone rules: local ↔ UTC, DST gap and overlap, windows, masks, inference."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from sendflowr.errors import ValidationError
from sendflowr.timing.zones import (
    check_zone,
    infer_offset,
    is_zone,
    local_slots,
    local_to_utc,
    quiet_mask,
    slot_to_utc,
    table_for,
    window_mask,
    window_to_utc,
)

NY, SYD, KOL, TYO = "America/New_York", "Australia/Sydney", "Asia/Kolkata", "Asia/Tokyo"


def _wall(*args: int) -> datetime:
    """A naive local wall-clock reading (what the zone functions take as local time)."""
    return datetime(*args, tzinfo=UTC).replace(tzinfo=None)  # type: ignore[misc]


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_spring_forward_gap_moves_forward_by_the_gap() -> None:
    # 2026-03-08 02:30 does not exist in New York: it becomes 03:30 EDT = 07:30 UTC
    assert local_to_utc(_wall(2026, 3, 8, 2, 30), NY) == _utc(2026, 3, 8, 7, 30)
    assert local_to_utc(_wall(2026, 3, 8, 3, 0), NY) == _utc(2026, 3, 8, 7, 0)
    assert local_to_utc(_wall(2026, 3, 8, 1, 59), NY) == _utc(2026, 3, 8, 6, 59)


def test_fall_back_overlap_is_the_first_occurrence() -> None:
    # 2025-11-02 01:30 happens twice in New York: the first is 01:30 EDT = 05:30 UTC
    assert local_to_utc(_wall(2025, 11, 2, 1, 30), NY) == _utc(2025, 11, 2, 5, 30)
    assert local_to_utc(_wall(2025, 11, 2, 2, 0), NY) == _utc(2025, 11, 2, 7, 0)


def test_half_hour_zone_without_dst() -> None:
    assert local_to_utc(_wall(2025, 10, 6, 9, 0), KOL) == _utc(2025, 10, 6, 3, 30)
    assert table_for(KOL, [0]).fixed or len(table_for(KOL, [0]).change_ms) == 0
    assert local_to_utc(_wall(2026, 1, 5, 9, 0), KOL) == _utc(2026, 1, 5, 3, 30)


def test_southern_hemisphere_springs_forward_in_october() -> None:
    # Sydney: AEST +10 until 2025-10-05 02:00 local, then AEDT +11; 02:30 does not exist
    assert local_to_utc(_wall(2025, 10, 4, 9, 0), SYD) == _utc(2025, 10, 3, 23, 0)
    assert local_to_utc(_wall(2025, 10, 6, 9, 0), SYD) == _utc(2025, 10, 5, 22, 0)
    assert local_to_utc(_wall(2025, 10, 5, 2, 30), SYD) == _utc(2025, 10, 4, 16, 30)
    # and falls back in April: 02:30 happens twice, the first is still AEDT (+11)
    assert local_to_utc(_wall(2026, 4, 5, 2, 30), SYD) == _utc(2026, 4, 4, 15, 30)


def test_the_rule_is_zoneinfos_fold_zero_on_random_times() -> None:
    rng = np.random.default_rng(1)
    for name in (NY, SYD, KOL, TYO, "Europe/London", "America/Los_Angeles"):
        zone = ZoneInfo(name)
        for minutes in rng.integers(0, 2 * 365 * 1440, 300).tolist():
            wall = _wall(2025, 1, 1) + timedelta(minutes=minutes)
            expected = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
            assert local_to_utc(wall, name) == expected, (name, wall)


def test_a_window_that_spans_the_fall_back_change_is_an_hour_longer() -> None:
    after, before = _wall(2025, 11, 1, 20, 0), _wall(2025, 11, 2, 8, 0)
    a, b = window_to_utc(after, before, NY)
    assert (a, b) == (_utc(2025, 11, 2, 0, 0), _utc(2025, 11, 2, 13, 0))
    assert b - a == timedelta(hours=13)  # 12 local hours + the repeated one
    with pytest.raises(ValidationError, match="send_before_local"):
        window_to_utc(before, after, NY)


def test_local_slots_follow_the_change() -> None:
    # Monday 08:00 local is slot 480 in both weeks, at 12:00 UTC (EDT) then 13:00 UTC (EST)
    before = int(_utc(2025, 10, 27, 12).timestamp() // 60)
    after = int(_utc(2025, 11, 3, 13).timestamp() // 60)
    assert local_slots([before, after], NY).tolist() == [480, 480]
    assert local_slots([before], "UTC").tolist() == [720]


def test_slot_to_utc_finds_the_next_local_slot() -> None:
    assert slot_to_utc(480, NY, _utc(2025, 10, 22)) == _utc(2025, 10, 27, 12)
    assert slot_to_utc(480, NY, _utc(2025, 10, 29)) == _utc(2025, 11, 3, 13)
    assert slot_to_utc(480, NY, _utc(2025, 10, 27, 12)) == _utc(2025, 10, 27, 12)


def test_window_and_quiet_masks_read_the_local_clock() -> None:
    start = int(_utc(2025, 10, 27, 0).timestamp() // 60)
    minutes = np.arange(start, start + 1440)
    inside = window_mask(minutes, NY, time(8), time(10))
    hours = sorted({(int(m) // 60) % 24 for m in minutes[inside]})
    assert hours == [12, 13]  # 08-10 EDT
    allowed = quiet_mask(minutes, KOL, time(21), time(8))  # wraps midnight
    ok_utc = {(int(m) * 60) % 86400 // 60 for m in minutes[allowed]}
    assert min(ok_utc) == 2 * 60 + 30 and max(ok_utc) == 15 * 60 + 29  # 08:00-20:59 IST
    assert window_mask(minutes, NY, time(6), time(6)).all()


def test_inferring_an_offset_from_activity() -> None:
    rng = np.random.default_rng(3)
    # someone active 08:00-22:00 in Tokyo (+09:00): UTC 23:00-13:00
    local_minutes = rng.integers(8 * 60, 22 * 60, 200)
    days = rng.integers(0, 60, 200) * 1440
    utc_ms = (days + local_minutes - 9 * 60 + 20_000 * 1440) * 60_000
    guess = infer_offset(utc_ms)
    assert abs(guess.offset_minutes - 9 * 60) <= 60
    assert guess.confidence > 0.5 and guess.evidence == 200
    few = infer_offset(utc_ms[:3])
    assert few.confidence < guess.confidence
    assert infer_offset([]).confidence == 0.0


def test_zone_names_are_validated() -> None:
    assert is_zone(NY) and is_zone("UTC")
    for bad in ("Mars/Olympus", "", "../etc/passwd", "/abs"):
        assert not is_zone(bad)
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        check_zone("Mars/Olympus")
