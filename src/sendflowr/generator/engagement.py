"""Engagement model (docs/behaviour-model.md): affinity, fatigue, hot-path boost, open/click odds.

These pure functions are shared by the simulation and by
``expected_click_probability``, the generator's own answer to "how likely is a
click on a message delivered at minute t", which the timing engine is scored
against.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import numpy.typing as npt

from sendflowr.generator.model import DAY_MS, MINUTE_MS, Model, week_slot
from sendflowr.generator.truth import UserTruth
from sendflowr.generator.world import World
from sendflowr.timing.zones import table_for

__all__ = [
    "affinity_at",
    "EngagementDraws",
    "click_given_open",
    "draw_engagement",
    "expected_click_probability",
    "fatigue_multiplier",
    "hot_path_boost",
    "open_probability",
    "wake_open_delay",
]

F64 = npt.NDArray[np.float64]


def affinity_at(model: Model, persona: int, ms: npt.ArrayLike) -> F64:
    """Persona time affinity (0 on inactive weekdays) at epoch-ms times, before noise."""
    return np.asarray(model.affinity[persona, week_slot(ms)], dtype=np.float64)


def wake_open_delay(
    model: Model,
    persona: int,
    arrive_wall: npt.ArrayLike,
    activity_ms: npt.ArrayLike,
    cap_ms: float,
) -> npt.NDArray[np.int64]:
    """Wall-clock ms from delivery to open when the delay runs on the persona's activity clock.

    ``activity_ms`` is the drawn delay (exponential) measured in "activity ms";
    the clock runs at the persona's local rate (``Model.wake_rate``): stopped
    while asleep, faster in active hours. ``arrive_wall`` is the delivery on
    the recipient's local clock (ms read as if UTC). At most ``cap_ms``.
    """
    cum, rate = model.wake_cum[persona], model.wake_rate[persona]
    per_day = float(cum[-1])
    wall = np.asarray(arrive_wall, dtype=np.int64)
    day, into = np.divmod(wall, DAY_MS)
    minute, frac = np.divmod(into, MINUTE_MS)
    start = day * per_day + cum[minute] + rate[minute] * frac
    target = start + np.asarray(activity_ms, dtype=np.float64)
    t_day = np.floor(target / per_day)
    rest = target - t_day * per_day
    k = np.clip(np.searchsorted(cum, rest, side="right") - 1, 0, 1439)
    speed = np.where(rate[k] > 0, rate[k], 1.0)
    opened = t_day * DAY_MS + k * MINUTE_MS + (rest - cum[k]) / speed
    delay = np.clip(np.round(opened - wall), 0, cap_ms)
    return np.asarray(delay, dtype=np.int64)


def fatigue_multiplier(model: Model, prior_sends: npt.ArrayLike) -> F64:
    """Fatigue multiplier for the number of sends in the previous window (3+ → last)."""
    counts = np.clip(np.asarray(prior_sends, dtype=np.int64), 0, len(model.fatigue) - 1)
    return np.asarray(model.fatigue[counts], dtype=np.float64)


def hot_path_boost(world: World, minutes_since: npt.ArrayLike) -> F64:
    """×(1 + e^(−m/decay)) within the window after a hot-path signal, else ×1.

    ``minutes_since`` is NaN (or negative) when there was no signal before.
    """
    hp = world.hot_paths
    m = np.asarray(minutes_since, dtype=np.float64)
    inside = (m >= 0) & (m < hp.window_minutes)
    with np.errstate(invalid="ignore"):
        boost = 1.0 + np.exp(-np.where(inside, m, 0.0) / hp.decay_minutes)
    return np.asarray(np.where(inside, boost, 1.0), dtype=np.float64)


def open_probability(
    world: World, affinity: npt.ArrayLike, open_rate: npt.ArrayLike, multiplier: npt.ArrayLike
) -> F64:
    """P(open): U < affinity_open × affinity, OR U' < open_rate × hot-path × fatigue."""
    a = np.clip(world.engagement.affinity_open * np.asarray(affinity), 0.0, 1.0)
    b = np.clip(np.asarray(open_rate) * np.asarray(multiplier), 0.0, 1.0)
    return np.asarray(1.0 - (1.0 - a) * (1.0 - b), dtype=np.float64)


def click_given_open(
    click_rate: npt.ArrayLike, open_rate: npt.ArrayLike, multiplier: npt.ArrayLike
) -> F64:
    """P(click | open) = click_rate / open_rate × hot-path × fatigue, at most 1."""
    ratio = np.asarray(click_rate) / np.asarray(open_rate)
    return np.asarray(np.clip(ratio * np.asarray(multiplier), 0.0, 1.0), dtype=np.float64)


def _to_ms(delivered_at: datetime | npt.ArrayLike) -> npt.NDArray[np.int64]:
    if isinstance(delivered_at, datetime):
        if delivered_at.tzinfo is None:
            raise ValueError("delivered_at must be timezone-aware")
        return np.array([int(delivered_at.timestamp() * 1000)], dtype=np.int64)
    arr = np.asarray(delivered_at)
    if arr.dtype == object:  # a sequence of aware datetimes
        return np.array([_to_ms(d)[0] for d in arr.ravel()], dtype=np.int64)
    if np.issubdtype(arr.dtype, np.datetime64):
        return arr.astype("datetime64[ms]").astype(np.int64)
    return arr.astype(np.int64)


def expected_click_probability(
    model: Model,
    truth: UserTruth,
    delivered_at: datetime | npt.ArrayLike,
    channel: str = "email",
) -> F64:
    """The generator's own P(click) for a message delivered to ``truth``'s user.

    ``delivered_at`` is an aware datetime, a sequence of them, an array of
    ``datetime64`` (UTC) or an array of epoch milliseconds, judged on the
    user's local clock (``truth.timezone``); the result has one
    probability per time. No hot path and no fatigue (a rested user); the
    drifted rates in force at each time; the noise enters at its mean (1.0).
    The model is channel-independent, ``channel`` is accepted for the caller's
    symmetry. Whole minutes score the same as any instant within them.
    """
    del channel
    ms = _to_ms(delivered_at)
    ms = ms - ms % MINUTE_MS
    click, open_ = truth.rates_at(ms)
    local = ms if truth.timezone == "UTC" else table_for(truth.timezone, ms).to_wall(ms)
    affinity = affinity_at(model, truth.persona_index, local)
    p_open = open_probability(model.world, affinity, open_, 1.0)
    return np.asarray(p_open * click_given_open(click, open_, 1.0), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class EngagementDraws:
    """Drawn reactions to deliveries: who opened, who clicked, and when (ms after)."""

    opened: npt.NDArray[np.bool_]
    clicked: npt.NDArray[np.bool_]
    open_delay_ms: npt.NDArray[np.int64]
    click_delay_ms: npt.NDArray[np.int64]


def draw_engagement(
    world: World,
    rng: np.random.Generator,
    affinity: F64,
    open_rate: npt.ArrayLike,
    click_rate: npt.ArrayLike,
    multiplier: npt.ArrayLike,
) -> EngagementDraws:
    """Draw opens and clicks for deliveries (the simulation's own engagement step).

    ``affinity`` is the persona time affinity at each delivery (before noise),
    ``multiplier`` the hot-path × fatigue factor. Open delay ~ exponential
    (mean 120 min, capped at 48 h); click 1–60 min after the open.
    """
    eng = world.engagement
    n = len(affinity)
    noise = rng.uniform(eng.noise[0], eng.noise[1], n)
    u_open, u_click = rng.random(n), rng.random(n)
    open_delay = np.minimum(
        rng.exponential(eng.open_delay_mean_minutes * MINUTE_MS, n),
        eng.open_delay_cap_minutes * MINUTE_MS,
    ).astype(np.int64)
    lo, hi = eng.click_delay_minutes
    click_delay = rng.integers(int(lo * MINUTE_MS), int(hi * MINUTE_MS) + 1, n)
    opened = u_open < open_probability(world, affinity * noise, open_rate, multiplier)
    clicked = opened & (u_click < click_given_open(click_rate, open_rate, multiplier))
    return EngagementDraws(opened, clicked, open_delay, np.asarray(click_delay, dtype=np.int64))
