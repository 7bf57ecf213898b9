"""Time zones: local week slots and local windows ↔ UTC, one rule for DST edges.

Pure functions over IANA zones (``zoneinfo``), vectorised with numpy so a whole
audience or a whole simulated history converts at once.

**The one rule for local times at a DST change** (the same as Python's
``fold=0``): a local time is converted with the UTC offset in force *before*
the change whose local-time window it falls in. So

- a local time that does not exist (spring forward, e.g. 02:30 in New York on
  2026-03-08) moves forward by the gap: it becomes 03:30 local (07:30 UTC);
- a local time that occurs twice (fall back, e.g. 01:30 in New York on
  2025-11-02) is its *first* occurrence: 01:30 EDT (05:30 UTC).

Times are int64 epoch milliseconds (UTC) or epoch minutes; "wall" times are
the same count read on the local clock (local time as if it were UTC), so
``week_slot(wall)`` is the local week slot (slot 0 = Monday 00:00 local).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from sendflowr.errors import ValidationError

__all__ = [
    "OffsetGuess",
    "ZoneChoice",
    "ZoneTable",
    "check_zone",
    "fixed_zone",
    "infer_offset",
    "is_zone",
    "local_slots",
    "local_to_utc",
    "offset_label",
    "quiet_mask",
    "slot_to_utc",
    "table_for",
    "to_wall_minutes",
    "tzinfo_of",
    "utc_to_local",
    "window_mask",
    "window_to_utc",
    "zone_table",
]

MINUTE_MS = 60_000
DAY_MS = 86_400_000
WEEK_MINUTES = 10_080
# 1970-01-01 was a Thursday: epoch minute m has week slot (m + 3 days) mod week.
_EPOCH_SLOT = 3 * 1440

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


@lru_cache(maxsize=1024)
def _zoneinfo(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def is_zone(name: str) -> bool:
    """Whether ``name`` is a known IANA zone name (``"UTC"`` included)."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        _zoneinfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def check_zone(name: str, field: str = "timezone") -> str:
    """``name`` if it is a known IANA zone, else ``ValidationError`` naming it."""
    if not is_zone(name):
        raise ValidationError(field, f"unknown time zone {name!r} (expected an IANA name)")
    return name


@dataclass(frozen=True, slots=True)
class ZoneTable:
    """A zone's UTC offsets over whole years, as arrays.

    ``change_ms[i]`` is the UTC instant of the i-th offset change; the offset
    in force is ``offset_ms[0]`` before the first change and ``offset_ms[i+1]``
    from change i on. Outside the table's years the edge offsets hold.
    """

    name: str
    change_ms: I64
    offset_ms: I64

    @property
    def fixed(self) -> bool:
        """True when the offset never changes within the table (no DST)."""
        return len(self.change_ms) == 0

    def offset_at(self, utc_ms: npt.ArrayLike) -> I64:
        """UTC offset (ms, east positive) in force at each UTC instant."""
        ms = np.asarray(utc_ms, dtype=np.int64)
        if self.fixed:
            return np.full(ms.shape, self.offset_ms[0], dtype=np.int64)
        return np.asarray(self.offset_ms[np.searchsorted(self.change_ms, ms, side="right")])

    def to_wall(self, utc_ms: npt.ArrayLike) -> I64:
        """Local wall-clock time (ms, read as if UTC) of each UTC instant."""
        ms = np.asarray(utc_ms, dtype=np.int64)
        return np.asarray(ms + self.offset_at(ms), dtype=np.int64)

    def to_utc(self, wall_ms: npt.ArrayLike) -> I64:
        """UTC instant of each local wall-clock time, by the module's one rule.

        A wall time before the end of a change's local window (the later of
        the two local readings of the change instant) takes the offset in
        force before that change: a gap moves forward, an overlap is the
        first occurrence.
        """
        wall = np.asarray(wall_ms, dtype=np.int64)
        if self.fixed:
            return np.asarray(wall - self.offset_ms[0], dtype=np.int64)
        before, after = self.offset_ms[:-1], self.offset_ms[1:]
        wall_end = self.change_ms + np.maximum(before, after)
        idx = np.searchsorted(wall_end, wall, side="right")
        return np.asarray(wall - self.offset_ms[idx], dtype=np.int64)


def _offset_ms(zone: ZoneInfo, utc_ms: int) -> int:
    at = datetime.fromtimestamp(utc_ms / 1000, tz=UTC).astimezone(zone)
    delta = at.utcoffset()
    return int(delta.total_seconds() * 1000) if delta is not None else 0


_FIXED = re.compile(r"^UTC([+-])(\d\d):(\d\d)$")


def fixed_zone(offset_minutes: int) -> str:
    """The name of a fixed-offset clock, e.g. ``"UTC+05:30"`` (an inferred zone; not IANA)."""
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(int(offset_minutes)), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def _fixed_offset(name: str) -> int | None:
    """Offset minutes of a ``fixed_zone`` name, None for anything else."""
    match = _FIXED.match(name)
    if match is None:
        return None
    value = int(match.group(2)) * 60 + int(match.group(3))
    return value if match.group(1) == "+" else -value


def tzinfo_of(name: str) -> tzinfo:
    """A ``tzinfo`` for an IANA name or a ``fixed_zone`` name."""
    fixed = _fixed_offset(name)
    if fixed is not None:
        return timezone(timedelta(minutes=fixed))
    return _zoneinfo(check_zone(name))


def offset_label(ts: datetime) -> str:
    """``"+05:30"`` / ``"-04:00"``: the UTC offset of an aware datetime."""
    delta = ts.utcoffset() or timedelta(0)
    minutes = int(delta.total_seconds() // 60)
    return fixed_zone(minutes)[3:]


@dataclass(frozen=True, slots=True)
class ZoneChoice:
    """The clock a recipient is read on and where it came from.

    ``source`` is ``"request"``, ``"stored"`` (the latest zone on their events),
    ``"inferred"`` (from their activity pattern, an IANA name, with ``confidence``;
    ``timing.zone_inference``) or ``"default"`` (nothing known: UTC).
    """

    name: str = "UTC"
    source: str = "default"
    confidence: float = 1.0

    @property
    def curve_clock(self) -> str:
        """The clock curves are learned on: the zone unless it is the default.

        An inferred zone is a whole IANA zone (its DST included) chosen with a
        calibrated confidence ≥ ``sources.MIN_INFER_CONFIDENCE``, so evidence is
        learned on it like on a stored one.
        """
        return self.name if self.source in ("request", "stored", "inferred") else "UTC"


@lru_cache(maxsize=512)
def zone_table(name: str, first_year: int, last_year: int) -> ZoneTable:
    """The offsets of zone ``name`` from ``first_year`` through ``last_year`` (cached).

    Offsets are sampled daily and each change is located to the minute by
    bisection (every real transition falls on a whole minute). ``fixed_zone``
    names give a table without changes.
    """
    fixed = _fixed_offset(name)
    if fixed is not None:
        return ZoneTable(name, np.zeros(0, np.int64), np.array([fixed * MINUTE_MS], np.int64))
    zone = _zoneinfo(check_zone(name))
    lo = int(datetime(first_year, 1, 1, tzinfo=UTC).timestamp() * 1000)
    hi = int(datetime(last_year + 1, 1, 1, tzinfo=UTC).timestamp() * 1000)
    days = np.arange(lo, hi + 1, DAY_MS, dtype=np.int64)
    offsets = [_offset_ms(zone, int(d)) for d in days]
    changes: list[int] = []
    values = [offsets[0]]
    for i in range(1, len(days)):
        if offsets[i] == offsets[i - 1]:
            continue
        a, b = int(days[i - 1]) // MINUTE_MS, int(days[i]) // MINUTE_MS
        while b - a > 1:  # offset(a) is the old one, offset(b) the new one
            mid = (a + b) // 2
            if _offset_ms(zone, mid * MINUTE_MS) == offsets[i - 1]:
                a = mid
            else:
                b = mid
        changes.append(b * MINUTE_MS)
        values.append(offsets[i])
    return ZoneTable(name, np.array(changes, dtype=np.int64), np.array(values, dtype=np.int64))


def _year(ms: int) -> int:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).year


def table_for(name: str, utc_ms: npt.ArrayLike) -> ZoneTable:
    """The table of ``name`` covering every time in ``utc_ms`` (a year either side)."""
    ms = np.asarray(utc_ms, dtype=np.int64)
    if ms.size == 0:
        return zone_table(name, 2000, 2000)
    return zone_table(name, _year(int(ms.min())) - 1, _year(int(ms.max())) + 1)


def utc_to_local(ts: datetime, name: str) -> datetime:
    """The aware local time of ``ts`` in zone ``name``."""
    if ts.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return ts.astimezone(_zoneinfo(check_zone(name)))


def local_to_utc(local: datetime, name: str) -> datetime:
    """The UTC instant of a naive local time in ``name`` (gap → forward, overlap → first)."""
    if local.tzinfo is not None:
        raise ValueError("local time must be naive (a wall-clock reading)")
    wall = int(local.replace(tzinfo=UTC).timestamp() * 1000)
    utc = int(table_for(name, [wall]).to_utc([wall])[0])
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=utc)


def window_to_utc(after: datetime, before: datetime, name: str) -> tuple[datetime, datetime]:
    """The UTC window of a local window ``[after, before)`` (naive local times)."""
    if before <= after:
        raise ValidationError("send_before_local", "must be after send_after_local")
    return local_to_utc(after, name), local_to_utc(before, name)


def to_wall_minutes(utc_minutes: npt.ArrayLike, name: str) -> I64:
    """Each epoch minute (UTC) read on the local clock of ``name`` (minutes as if UTC)."""
    minutes = np.asarray(utc_minutes, dtype=np.int64)
    if name == "UTC" or minutes.size == 0:
        return minutes
    table = table_for(name, minutes * MINUTE_MS)
    return np.asarray(table.to_wall(minutes * MINUTE_MS) // MINUTE_MS, dtype=np.int64)


def local_slots(utc_minutes: npt.ArrayLike, name: str) -> I64:
    """Local week slot (0 = Monday 00:00 local) of each epoch minute (UTC)."""
    minutes = np.asarray(utc_minutes, dtype=np.int64)
    if name == "UTC":
        return np.asarray((minutes + _EPOCH_SLOT) % WEEK_MINUTES, dtype=np.int64)
    table = table_for(name, minutes * MINUTE_MS)
    wall = table.to_wall(minutes * MINUTE_MS) // MINUTE_MS
    return np.asarray((wall + _EPOCH_SLOT) % WEEK_MINUTES, dtype=np.int64)


def slot_to_utc(slot: int, name: str, not_before: datetime) -> datetime:
    """The first UTC instant at or after ``not_before`` whose local week slot is ``slot``.

    Slots that fall in a spring-forward gap that week move forward by the gap
    (the one rule), so the answer always exists within 8 days.
    """
    if not_before.tzinfo is None:
        raise ValueError("not_before must be timezone-aware")
    start = int(not_before.timestamp() // 60)
    minutes = np.arange(start, start + WEEK_MINUTES + 1440, dtype=np.int64)
    table = table_for(name, minutes * MINUTE_MS)
    wall_min = table.to_wall(minutes * MINUTE_MS) // MINUTE_MS
    # Candidate local weeks: the wall-clock minute with that slot in each week.
    first_wall = int(wall_min[0])
    base = first_wall - (first_wall + _EPOCH_SLOT) % WEEK_MINUTES + slot % WEEK_MINUTES
    for wall in (base, base + WEEK_MINUTES, base + 2 * WEEK_MINUTES):
        utc = int(table.to_utc([wall * MINUTE_MS])[0]) // MINUTE_MS
        if utc >= start:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=utc)
    raise AssertionError("unreachable: a slot recurs every week")


def _minute_of_day(t: time) -> int:
    return t.hour * 60 + t.minute


def window_mask(
    utc_minutes: npt.ArrayLike, name: str, start: time, end: time
) -> npt.NDArray[np.bool_]:
    """True for epoch minutes whose local time of day is in ``[start, end)``.

    ``start > end`` wraps midnight (22:00–06:00); ``start == end`` is the whole day.
    """
    minutes = np.asarray(utc_minutes, dtype=np.int64)
    table = table_for(name, minutes * MINUTE_MS)
    tod = (table.to_wall(minutes * MINUTE_MS) // MINUTE_MS) % 1440
    a, b = _minute_of_day(start), _minute_of_day(end)
    if a == b:
        return np.ones(minutes.shape, dtype=bool)
    if a < b:
        return np.asarray((tod >= a) & (tod < b))
    return np.asarray((tod >= a) | (tod < b))


def quiet_mask(
    utc_minutes: npt.ArrayLike, name: str, start: time, end: time
) -> npt.NDArray[np.bool_]:
    """True for epoch minutes *outside* local quiet hours ``[start, end)`` (may wrap)."""
    return np.asarray(~window_mask(utc_minutes, name, start, end))


#: A generic local activity profile by hour (people sleep at night), used to
#: infer a zone offset from when someone is active; only its shape matters.
_DIURNAL = np.array(
    [0.25, 0.12, 0.06, 0.04, 0.04, 0.08, 0.3, 0.7, 1.0, 1.0, 1.0, 1.0]
    + [1.0, 1.0, 0.95, 0.9, 0.9, 0.95, 1.0, 1.0, 1.0, 0.9, 0.7, 0.45]
)


@dataclass(frozen=True, slots=True)
class OffsetGuess:
    """An inferred UTC offset (minutes, east positive) and how sure we are (0–1)."""

    offset_minutes: int
    confidence: float
    evidence: int


def infer_offset(
    utc_ms: npt.ArrayLike, *, step_minutes: int = 30, evidence_cap: int = 40
) -> OffsetGuess:
    """Infer a UTC offset from activity times by where the quiet (sleeping) hours fall.

    Each candidate offset (−11:30 … +12:00 in ``step_minutes``; a day's worth, as
    +13:00 and −11:00 look alike) is scored by
    the likelihood of the activity's local hours under a generic diurnal
    profile; the confidence is the posterior mass within an hour of the best
    candidate, with the evidence tempered to ``evidence_cap`` events so that
    many events of an unusual schedule do not look certain. No activity gives
    offset 0 with confidence 0.
    """
    ms = np.asarray(utc_ms, dtype=np.int64)
    n = int(ms.size)
    if n == 0:
        return OffsetGuess(0, 0.0, 0)
    bins = 1440 // step_minutes
    counts = np.bincount(((ms // MINUTE_MS) % 1440) // step_minutes, minlength=bins)
    per_bin = np.log(np.repeat(_DIURNAL / _DIURNAL.sum(), bins // 24))
    candidates = np.arange(-12 * 60 + step_minutes, 12 * 60 + 1, step_minutes)
    shifts = (candidates // step_minutes) % bins
    # local bin of UTC bin u under offset o is u + o; score = Σ counts[u] · log p[u + o]
    scores = np.array([float(counts @ np.roll(per_bin, -int(s))) for s in shifts])
    scores *= min(n, evidence_cap) / n
    post = np.exp(scores - scores.max())
    post /= post.sum()
    best = int(np.argmax(post))
    near = np.abs(candidates - candidates[best]) <= 60
    return OffsetGuess(int(candidates[best]), float(post[near].sum()), n)
