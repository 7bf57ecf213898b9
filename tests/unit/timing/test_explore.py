"""Exploration: a seeded share of decisions goes to plausible, unconfirmed minutes, and says so."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from sendflowr.timing.curves import CurveConfig, CurveModel, fit_curves
from sendflowr.timing.decisions import Decision, DecisionRequest, decide
from sendflowr.timing.explore import FAVOURED, PLAUSIBLE, draws, exploration_choices
from sendflowr.timing.grid import epoch_minute, slots_of_minutes
from tests.unit.timing.synthetic import START, history
from tests.unit.timing.test_decisions import FixedLatency

NOW = START + timedelta(weeks=6, hours=1)


@pytest.fixture(scope="module")
def model() -> CurveModel:
    peaks = {f"m{i}": (8, 9) for i in range(200)} | {f"e{i}": (19,) for i in range(200)}
    evidence, now = history(peaks, weeks=6)
    return fit_curves(evidence, now, CurveConfig(segments=4), "test")


def _decide(model: CurveModel, **kw: object) -> list[Decision]:
    req = DecisionRequest(list(model.universal_ids), **kw)  # type: ignore[arg-type]
    out = decide(req, model, FixedLatency(30.0), {}, NOW)
    assert all(isinstance(d, Decision) for d in out)
    return out  # type: ignore[return-value]


def test_zero_share_never_explores(model: CurveModel) -> None:
    assert not any(d.debug["exploration"] for d in _decide(model, explore_share=0.0))


def test_a_share_explores_marked_and_plausible(model: CurveModel) -> None:
    greedy = {d.universal_id: d for d in _decide(model, explore_share=0.0)}
    out = _decide(model, explore_share=0.1)
    explored = [d for d in out if d.debug["exploration"]]
    assert 20 <= len(explored) <= 60  # 10% of 400, give or take the draw
    for d in explored:
        note = d.explanation["exploration"]
        assert note["explored"] is True and note["share"] == 0.1
        assert note["greedy_target_utc"] == greedy[d.universal_id].target_minute_utc.isoformat()
        assert d.target_minute_utc != greedy[d.universal_id].target_minute_utc
        assert PLAUSIBLE - 1e-6 <= note["relative_expected_response"] < FAVOURED
        # The minute's value under the recipient's own curve says the same.
        rows = model.rows([d.universal_id])
        at = slots_of_minutes([epoch_minute(d.target_minute_utc)])
        best = slots_of_minutes([epoch_minute(greedy[d.universal_id].target_minute_utc)])
        ratio = model.window(rows, at)[0, 0] / model.window(rows, best)[0, 0]
        assert ratio == pytest.approx(note["relative_expected_response"], abs=1e-3)
    others = [d for d in out if not d.debug["exploration"]]
    assert all(d.target_minute_utc == greedy[d.universal_id].target_minute_utc for d in others)


def test_exploration_is_deterministic_per_seed(model: CurveModel) -> None:
    def who(seed: int) -> dict[str, object]:
        out = _decide(model, explore_share=0.1, explore_seed=seed)
        return {d.universal_id: d.target_minute_utc for d in out if d.debug["exploration"]}

    assert who(1) == who(1)
    assert set(who(1)) != set(who(2))


def test_draws_are_uniform_and_stable() -> None:
    ids = [f"u{i}" for i in range(20_000)]
    d = draws(ids, seed=3, salt="w")
    assert d.shape == (20_000, 2)
    assert ((d >= 0) & (d < 1)).all()
    assert abs(float((d[:, 0] < 0.05).mean()) - 0.05) < 0.01
    assert np.array_equal(d, draws(ids, seed=3, salt="w"))
    assert not np.array_equal(d, draws(ids, seed=3, salt="other window"))


def test_choices_are_plausible_unfavoured_and_near_the_prior_top() -> None:
    values = np.array([1.0, 0.95, 0.8, 0.7, 0.65, 0.5, 0.0])
    prior = np.array([1.0, 1.0, 0.3, 0.9, 1.0, 1.0, 1.0])
    # 0.8, 0.7 and 0.65 are plausible and unfavoured; of their priors (0.3, 0.9, 1.0) the top two.
    assert exploration_choices(values, prior).tolist() == [3, 4]
    assert exploration_choices(np.array([1.0, 0.2]), np.ones(2)).size == 0
    assert exploration_choices(np.zeros(3), np.ones(3)).size == 0
