"""Per-segment strength of the day rates: empirical Bayes on the segment's users."""

from __future__ import annotations

import numpy as np

from sendflowr.timing.curves import CurveConfig, segment_day_strengths

_CONFIG = CurveConfig()


def _segment_users(
    rng: np.random.Generator, day_rates: list[np.ndarray], per_day: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Exposures and engagements by day of week of users with these true day rates."""
    ex = np.full((len(day_rates), 7), float(per_day))
    en = np.array([rng.binomial(per_day, rates) for rates in day_rates], dtype=np.float64)
    return ex, en


def _strengths(
    groups: list[list[np.ndarray]], seed: int = 0, config: CurveConfig = _CONFIG
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ex_parts, en_parts, resp_rows, profiles = [], [], [], []
    for g, users in enumerate(groups):
        ex, en = _segment_users(rng, users)
        ex_parts.append(ex)
        en_parts.append(en)
        mean_day = np.mean(users, axis=0)
        profiles.append(np.repeat(mean_day, 24))  # the segment's hour-of-week profile
        one_hot = np.zeros(len(groups))
        one_hot[g] = 1.0
        resp_rows.extend([one_hot] * len(users))
    return segment_day_strengths(
        np.array(resp_rows), np.vstack(ex_parts), np.vstack(en_parts), np.array(profiles), config
    )


SUNDAY_ONLY = np.array([0.2] * 6 + [0.3])
WEEKDAYS = np.array([0.4] * 5 + [0.1, 0.1])
SATURDAY = np.array([0.1] * 5 + [0.4, 0.1])


def test_users_who_share_their_days_hold_to_the_segment_those_who_differ_do_not() -> None:
    pure = [SUNDAY_ONLY] * 25
    mixed = [WEEKDAYS] * 25 + [SATURDAY] * 25
    for seed in range(20):
        strength = _strengths([pure, mixed], seed=seed)
        # One persona: its users' day rates differ by sampling noise only, whose estimate
        # is itself noisy (203 to the top bound over these seeds): far above the 100 of
        # the user level, so forty deliveries on a day cannot flip Sunday for Saturday.
        assert strength[0] >= 2 * _CONFIG.user_strength, seed
        # Two personas in one segment: days 0.3 apart, c(1 − c) / τ² ≈ 0.2 / 0.04 = 5:
        # the lower bound, each user's days are its own evidence.
        assert strength[1] == _CONFIG.day_strength_bounds[0], seed


def test_equal_bounds_fix_the_strength() -> None:
    fixed = CurveConfig(day_strength_bounds=(100.0, 100.0))
    mixed = [WEEKDAYS] * 10 + [SATURDAY] * 10
    assert _strengths([[SUNDAY_ONLY] * 25, mixed], config=fixed).tolist() == [100.0, 100.0]


def test_a_segment_with_too_little_evidence_keeps_the_user_strength() -> None:
    rates = np.array([0.2] * 7)
    strength = _strengths([[rates] * 25, [rates] * 2])
    assert strength[1] == _CONFIG.user_strength


def test_no_users_means_the_user_strength() -> None:
    out = segment_day_strengths(
        np.zeros((0, 3)), np.zeros((0, 7)), np.zeros((0, 7)), np.ones((3, 168)), _CONFIG
    )
    assert out.tolist() == [_CONFIG.user_strength] * 3
