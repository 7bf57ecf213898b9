"""``expected_click_probability`` is vectorised and agrees with the simulation's own draws."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from sendflowr.generator import expected_click_probability, generate_truth, model_for
from sendflowr.generator.engagement import affinity_at, draw_engagement
from sendflowr.generator.model import MINUTE_MS
from sendflowr.timing.zones import table_for


def _truth(persona: str) -> object:
    truths = generate_truth(seed=4, users=20)
    return next(t for t in truths if t.persona == persona)


def test_vectorised_over_minutes_equals_scalar_calls() -> None:
    truth = _truth("morning_person")
    start = datetime(2025, 10, 6, tzinfo=UTC)  # a Monday
    ms = np.arange(
        int(start.timestamp() * 1000),
        int(start.timestamp() * 1000) + 3 * 1440 * MINUTE_MS,
        MINUTE_MS,
    )
    many = expected_click_probability(None, truth, ms)  # type: ignore[arg-type]
    assert many.shape == ms.shape
    for k in (0, 500, 1999, 4000):
        one = expected_click_probability(None, truth, start + timedelta(minutes=k))  # type: ignore[arg-type]
        assert one[0] == many[k]
    as_dt64 = expected_click_probability(None, truth, ms.astype("datetime64[ms]"))  # type: ignore[arg-type]
    assert np.array_equal(as_dt64, many)
    listed = [start + timedelta(minutes=k) for k in (0, 500)]
    assert np.array_equal(expected_click_probability(None, truth, listed), many[[0, 500]])  # type: ignore[arg-type]


def test_peak_minutes_on_active_days_score_highest() -> None:
    truth = _truth("morning_person")
    zone = ZoneInfo(truth.timezone)  # type: ignore[attr-defined]
    monday = datetime(2025, 10, 6, tzinfo=zone)  # persona hours are local
    p = lambda h, m, day=monday: float(  # noqa: E731
        expected_click_probability(None, truth, day.replace(hour=h, minute=m))[0]  # type: ignore[arg-type]
    )
    assert p(8, 47) > p(8, 10) > p(10, 10) > p(15, 10)
    assert p(8, 0) < p(8, 10)  # top-of-hour penalty
    saturday = datetime(2025, 10, 11, tzinfo=zone)
    assert p(8, 47, saturday) < p(15, 10)


def test_agrees_with_the_simulations_draws() -> None:
    model = model_for(None)
    truth = _truth("lunch_browser")
    at = datetime(2025, 10, 7, 12, 27, tzinfo=UTC)
    ms = np.full(200_000, int(at.timestamp() * 1000))
    click, open_ = truth.rates_at(ms)  # type: ignore[attr-defined]
    wall = table_for(truth.timezone, ms).to_wall(ms)  # type: ignore[attr-defined]
    affinity = affinity_at(model, truth.persona_index, wall)  # type: ignore[attr-defined]
    drawn = draw_engagement(model.world, np.random.default_rng(1), affinity, open_, click, 1.0)
    expected = float(expected_click_probability(None, truth, at)[0])  # type: ignore[arg-type]
    assert abs(drawn.clicked.mean() - expected) < 0.005
