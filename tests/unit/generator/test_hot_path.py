"""The hot-path boost, shown by deliveries placed right after a signal (docs/behaviour-model.md).

Signals rarely precede a delivery by chance in the history, so this test
places deliveries m minutes after one and runs the simulation's own
engagement step on them: about twice the opens at once, fading to none by 30.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from sendflowr.generator import model_for
from sendflowr.generator.engagement import affinity_at, draw_engagement, hot_path_boost
from sendflowr.generator.model import date_ms

N = 200_000


def _open_rate(minutes_since: float, persona: str = "morning_person") -> float:
    model = model_for(None)
    world = model.world
    p = model.persona_index(persona)
    # Saturday 2025-10-04 10:00 UTC: not an active day for morning_person, so the
    # time affinity is 0 and every open comes from the rate × boost term.
    at = date_ms(datetime(2025, 10, 4, tzinfo=UTC).date()) + 10 * 3_600_000
    affinity = affinity_at(model, p, np.full(N, at))
    boost = hot_path_boost(world, np.full(N, minutes_since))
    rate = world.personas[p].open_rate
    drawn = draw_engagement(world, np.random.default_rng(7), affinity, rate, 0.1, boost)
    return float(drawn.opened.mean())


def test_boost_doubles_engagement_at_once_and_fades_by_thirty_minutes() -> None:
    base = _open_rate(float("nan"))
    at_once, mid, gone, later = (_open_rate(m) for m in (0.0, 15.0, 30.0, 45.0))
    assert 1.9 <= at_once / base <= 2.1
    assert 1.3 <= mid / base <= 1.45  # 1 + e^-1
    assert 0.95 <= gone / base <= 1.05
    assert 0.95 <= later / base <= 1.05


def test_boost_never_becomes_a_penalty() -> None:
    world = model_for(None).world
    m = np.linspace(0, 60, 601)
    boost = hot_path_boost(world, m)
    assert np.all(boost >= 1.0)
    assert np.all(np.diff(boost[m < 30]) < 0)
    assert boost[0] == 2.0
    assert np.all(boost[m >= 30] == 1.0)
