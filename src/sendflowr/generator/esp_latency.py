"""ESP latency and queue depth (docs/behaviour-model.md "ESP latency"), vectorised over sends.

Every multiplier is drawn for every send (a fixed number of draws per send),
so the random stream a user consumes depends only on how many sends they have.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

from sendflowr.generator.model import Model, hour_minute_weekday

__all__ = ["queue_depth", "sample_latency"]

F64 = npt.NDArray[np.float64]
_CHANNELS: tuple[Literal["email", "sms", "push"], ...] = ("email", "sms", "push")
I64 = npt.NDArray[np.int64]


def _uniform(u: F64, bounds: list[float]) -> F64:
    lo, hi = bounds
    return lo + (hi - lo) * u


def queue_depth(model: Model, rng: np.random.Generator, send_ms: I64, channel: I64) -> I64:
    """Estimated provider queue depth at each send (0–cap)."""
    q = model.world.queue
    lat = model.world.latency
    hour, minute, weekday = hour_minute_weekday(send_ms)
    u = rng.random((3, len(send_ms)))
    base = np.array([q.base.get(ch, 1.0) for ch in _CHANNELS])[channel]
    email = channel == 0
    top = np.isin(minute, lat.top_of_hour_minutes)
    quarter = np.isin(minute, lat.quarter_minutes)
    top_mult = np.where(
        email, _uniform(u[0], q.top_of_hour_email), _uniform(u[0], q.top_of_hour_other)
    )
    depth = base * np.where(top, top_mult, np.where(quarter, _uniform(u[1], q.quarter), 1.0))
    depth *= np.where(np.isin(hour, lat.rush_hours), _uniform(u[2], q.rush), 1.0)
    depth *= np.where(np.isin(weekday, lat.weekend_days), q.weekend, 1.0)
    depth *= np.where(np.isin(hour, lat.night_hours), q.night, 1.0)
    return np.asarray(np.minimum(depth, q.cap), dtype=np.int64)


def _tiers(value: F64, u: F64, tiers: list[tuple[float, list[float]]]) -> F64:
    """Multiplier of the first tier whose threshold ``value`` exceeds (tiers high to low)."""
    mult = np.ones_like(value)
    done = np.zeros(value.shape, dtype=bool)
    for over, bounds in tiers:
        hit = ~done & (value > over)
        mult = np.where(hit, _uniform(u, bounds), mult)
        done |= hit
    return mult


def sample_latency(
    model: Model,
    rng: np.random.Generator,
    send_ms: I64,
    provider: I64,
    payload_bytes: I64,
    depth: I64,
) -> F64:
    """Seconds from send to delivery for each send, capped per channel."""
    lat = model.world.latency
    n = len(send_ms)
    hour, minute, weekday = hour_minute_weekday(send_ms)
    channel = model.provider_channel[provider]
    email = channel == 0
    base = rng.lognormal(model.provider_mu[provider], model.provider_sigma[provider])
    u = rng.random((6, n))
    top = np.isin(minute, lat.top_of_hour_minutes)
    quarter = np.isin(minute, lat.quarter_minutes)
    top_mult = np.where(
        email, _uniform(u[0], lat.top_of_hour_email), _uniform(u[0], lat.top_of_hour_other)
    )
    mult = np.where(top, top_mult, np.where(quarter, _uniform(u[0], lat.quarter), 1.0))
    rush = np.where(email, _uniform(u[1], lat.rush_email), _uniform(u[1], lat.rush_other))
    mult *= np.where(np.isin(hour, lat.rush_hours), rush, 1.0)
    mult *= np.where(np.isin(weekday, lat.weekend_days), lat.weekend, 1.0)
    mult *= np.where(np.isin(hour, lat.night_hours), lat.night, 1.0)
    size_kb = payload_bytes / 1024.0
    payload_tiers = sorted(((t.over, t.range) for t in lat.payload_tiers), reverse=True)
    mult *= np.where(email, _tiers(size_kb, u[2], payload_tiers), 1.0)
    queue_tiers = sorted(((t.over, t.range) for t in lat.queue_tiers), reverse=True)
    mult *= _tiers(depth.astype(np.float64), u[3], queue_tiers)
    mult *= _uniform(u[4], lat.jitter)
    caps = np.array([lat.caps.get(ch, np.inf) for ch in _CHANNELS])[channel]
    return np.asarray(np.round(np.minimum(base * mult, caps), 3), dtype=np.float64)
