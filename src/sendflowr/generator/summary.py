"""``--summary``: what a run would generate, computed from the world, not by generating."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from sendflowr.generator.engagement import click_given_open, open_probability
from sendflowr.generator.model import CHANNEL_NAMES, Model

__all__ = ["Expected", "expected_counts"]


@dataclass(slots=True)
class Expected:
    """Expected event counts of a run, by type, channel and persona."""

    users: int
    start: date
    end: date
    by_type: dict[str, float] = field(default_factory=dict)
    by_channel: dict[str, float] = field(default_factory=dict)
    by_persona: dict[str, float] = field(default_factory=dict)

    @property
    def days(self) -> int:
        """Days in the range (end exclusive)."""
        return (self.end - self.start).days

    @property
    def total(self) -> float:
        """Expected number of events."""
        return sum(self.by_type.values())


def _poisson_capped_mean(lam: float, cap: int) -> float:
    probs = [math.exp(-lam) * lam**k / math.factorial(k) for k in range(cap)]
    return sum(k * p for k, p in enumerate(probs)) + cap * (1 - sum(probs))


def _fatigue_mean(model: Model, lam: float) -> float:
    f = model.fatigue
    probs = [math.exp(-lam) * lam**k / math.factorial(k) for k in range(len(f) - 1)]
    return float(sum(p * f[k] for k, p in enumerate(probs)) + (1 - sum(probs)) * f[-1])


def expected_counts(model: Model, users: int, start: date, end: date) -> Expected:
    """Expected counts for ``users`` users (the world's persona layout) over [start, end)."""
    world = model.world
    days = (end - start).days
    out = Expected(users=users, start=start, end=end)
    layout = model.layout
    per_persona = np.bincount(
        layout[np.arange(users) % len(layout)], minlength=len(model.persona_names)
    )
    cb = world.circuit_breakers
    mean_hours = float(np.mean(list(cb.hours.values())))
    suppressed = 1 - math.exp(-cb.daily_probability * mean_hours / 24)
    sends_day = _poisson_capped_mean(model.sends_per_day, world.sends.max_per_day) * (
        1 - suppressed
    )
    fatigue = _fatigue_mean(model, model.sends_per_day)
    dr = world.delivery.delivered_rate
    minutes = np.arange(world.sends.first_minute, world.sends.last_minute + 1)
    slots = (np.arange(7)[:, None] * 1440 + minutes[None, :]).ravel()
    channel_share = np.zeros(len(CHANNEL_NAMES))
    prov_p = np.diff(model.campaign_provider_cdf, prepend=0, axis=1)
    for ci, p in enumerate(model.campaign_p):
        for pi, q in enumerate(prov_p[ci]):
            channel_share[model.provider_channel[pi]] += p * q
    types: dict[str, float] = {}
    for pi, name in enumerate(model.persona_names):
        n = int(per_persona[pi])
        if n == 0:
            continue
        persona = world.personas[pi]
        sends = n * days * sends_day
        p_open = float(
            np.mean(open_probability(world, model.affinity[pi, slots], persona.open_rate, fatigue))
        )
        p_click = float(click_given_open(persona.click_rate, persona.open_rate, fatigue))
        counts = {
            "sent": sends,
            "delivered": sends * dr,
            "bounced": sends * (1 - dr),
            "opened": sends * dr * p_open,
            "clicked": sends * dr * p_open * p_click,
        }
        for hot in world.hot_paths.types:
            counts[hot] = n * days * world.hot_paths.daily_probability / len(world.hot_paths.types)
        for breaker in cb.hours:
            counts[breaker] = n * days * cb.daily_probability / len(cb.hours)
        out.by_persona[name] = sum(counts.values())
        for etype, v in counts.items():
            types[etype] = types.get(etype, 0.0) + v
    out.by_type = types
    message = sum(types.get(t, 0.0) for t in ("sent", "delivered", "bounced", "opened", "clicked"))
    for ci, ch in enumerate(CHANNEL_NAMES):
        out.by_channel[ch] = message * channel_share[ci]
    signals = sum(
        v
        for t, v in types.items()
        if t not in ("sent", "delivered", "bounced", "opened", "clicked")
    )
    sms_clicks = types.get("sms_click", 0.0)
    out.by_channel["email"] += signals - sms_clicks
    out.by_channel["sms"] += sms_clicks
    return out
