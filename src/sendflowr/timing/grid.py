"""The canonical week grid: 10,080 minute slots, slot 0 = Monday 00:00 UTC.

Everything the engine learns or decides lives on this grid; hours are only a
projection of it (``hourly_projection``). Absolute times are handled as integer
epoch minutes so that whole audiences are computed with numpy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "MINUTES_PER_DAY",
    "SLOTS_PER_WEEK",
    "WEEKDAY_NAMES",
    "epoch_minute",
    "from_epoch_minute",
    "hour_of_day",
    "hour_of_week",
    "hourly_projection",
    "minute_of_hour",
    "slot_label",
    "slot_of",
    "slots_of_minutes",
    "weekday",
]

MINUTES_PER_DAY: Final = 1440
SLOTS_PER_WEEK: Final = 7 * MINUTES_PER_DAY
WEEKDAY_NAMES: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# 1970-01-01 was a Thursday: epoch minute m has week slot (m + 3 days) mod week.
_EPOCH_OFFSET: Final = 3 * MINUTES_PER_DAY

IntArray = npt.NDArray[np.int64]


def epoch_minute(ts: datetime) -> int:
    """Whole minutes since 1970-01-01 00:00 UTC (floored); ``ts`` must be aware."""
    if ts.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return int(ts.timestamp() // 60)


def from_epoch_minute(minute: int) -> datetime:
    """The aware UTC datetime at the start of epoch minute ``minute``."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=int(minute))


def slot_of(ts: datetime) -> int:
    """The week slot (0 = Monday 00:00 UTC … 10,079 = Sunday 23:59) of ``ts``."""
    return (epoch_minute(ts) + _EPOCH_OFFSET) % SLOTS_PER_WEEK


def slots_of_minutes(minutes: npt.ArrayLike) -> IntArray:
    """Vectorised ``slot_of`` for epoch minutes (wraps at the end of the week)."""
    return (np.asarray(minutes, dtype=np.int64) + _EPOCH_OFFSET) % SLOTS_PER_WEEK


def weekday(slots: npt.ArrayLike) -> IntArray:
    """Day of week of week slots, 0 = Monday."""
    return np.asarray(slots, dtype=np.int64) // MINUTES_PER_DAY


def hour_of_day(slots: npt.ArrayLike) -> IntArray:
    """Hour of day (0–23) of week slots."""
    return (np.asarray(slots, dtype=np.int64) % MINUTES_PER_DAY) // 60


def hour_of_week(slots: npt.ArrayLike) -> IntArray:
    """Hour of week (0 = Monday 00h … 167) of week slots."""
    return np.asarray(slots, dtype=np.int64) // 60


def minute_of_hour(slots: npt.ArrayLike) -> IntArray:
    """Minute of hour (0–59) of week slots."""
    return np.asarray(slots, dtype=np.int64) % 60


def hourly_projection(curve: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Project week curves ``(..., 10080)`` to hour-of-day means ``(..., 24)``."""
    arr = np.asarray(curve, dtype=np.float64)
    if arr.shape[-1] != SLOTS_PER_WEEK:
        raise ValueError(f"a week curve has {SLOTS_PER_WEEK} slots, got {arr.shape[-1]}")
    out: npt.NDArray[np.float64] = arr.reshape(*arr.shape[:-1], 7, 24, 60).mean(axis=(-3, -1))
    return out


def slot_label(slot: int) -> str:
    """Human label of a slot, e.g. ``"Mon 09:15"``."""
    slot = int(slot) % SLOTS_PER_WEEK
    day, rest = divmod(slot, MINUTES_PER_DAY)
    return f"{WEEKDAY_NAMES[day]} {rest // 60:02d}:{rest % 60:02d}"
