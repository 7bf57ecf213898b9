"""Confidence of a decision: an estimate of how close it comes to the best minute (0–1).

The engine does not know a recipient's pattern, it has a posterior over
behaviour segments (``segments``): ``r_k``, the probability that the recipient
follows segment k. Under segment k

- the chosen hour is worth ``P_k[chosen] / max P_k[window]`` of the window's
  best hour (0 when it is an hour the segment never engages in), and
- within the right hour the exact minute can still be missed; what is at stake
  is the segment's lift, ``(max − median) / max`` of its hours in the window
  (``LIFT_AT_RISK`` of it is counted as lost). A segment that engages about
  equally at any hour has little to lose, a sharp one loses most of its lift.

    confidence = Σ_k r_k · P_k[chosen] / max P_k[window] · (1 − LIFT_AT_RISK · lift_k)

A segment's lift is an estimate, and a segment of recipients who engage equally at any
hour still shows one: the sampling noise of its hour rates. So a lift counts only when it
is larger than one standard error of an hour's rate in that segment,
``sqrt(m (1 − m) · 24 / E)`` (``m`` the segment's mean rate, ``E`` its exposures: its size
× the mean exposures per recipient, spread over the 24 hours of the day). Below that the
segment is taken as flat: nothing at stake within the hour and every hour as good as its
best (``beyond_noise`` 0). On the bench's worlds that separates the recipients who engage
at any hour (lift 0.6 standard errors, median) from the peaked personas (≥ 1.2 in 95% of
their segments); the highly engaged (0.9), whose peaks are worth ≈ 4% to them, count as flat.

So a decision scores high when the evidence pins the recipient to one segment,
the chosen hour is that segment's best and the segment is forgiving; it scores
low when the posterior is spread over segments that disagree (thin evidence),
when the chosen hour is good for only some of them, and for sharp patterns.
A cold recipient's posterior is the segments' population shares, and it gets
``COLD_FACTOR`` of that sum. As a recipient's newest evidence ages, their score
slides from their own posterior's to the cold score (weight
``0.5 ** (age / STALE_HALF_LIFE_DAYS)`` on their own): behaviour seen a year ago
is barely better than none. Flatness earns confidence only through the
posterior: a thin history gives a flat curve but a spread posterior, whose
segments each have their own peak, so the chosen hour is good for only some.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from sendflowr.timing.curves import CurveModel

__all__ = [
    "COLD_FACTOR",
    "LIFT_AT_RISK",
    "NOISE_HOURS",
    "STALE_HALF_LIFE_DAYS",
    "ConfidenceScorer",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Evidence this old keeps half of its weight in the score (the rest: the cold score).
STALE_HALF_LIFE_DAYS: Final = 180.0
#: A cold recipient's confidence: this share of what the population prior says.
COLD_FACTOR: Final = 0.5
#: Share of a segment's lift (best hour over median hour of the window) taken as at risk.
LIFT_AT_RISK: Final = 1.0
#: Hours of the day a segment's exposures are spread over, for the noise of an hour's rate.
NOISE_HOURS: Final = 24


@dataclass
class ConfidenceScorer:
    """Scores decisions of one request: built once per window, ``score`` per recipient."""

    curves: CurveModel
    window_slots: IntArray
    now_minute: int
    _ratio: FloatArray = field(init=False, repr=False)
    _keep: FloatArray = field(init=False, repr=False)
    _real: FloatArray = field(init=False, repr=False)
    _memo: dict[tuple[int, int], tuple[float, dict[str, float]]] = field(
        init=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        profiles = self.curves.segment_profiles
        hours = np.unique(np.asarray(self.window_slots, dtype=np.int64) // 60)
        window = profiles[:, hours]
        best = np.clip(window.max(axis=1), 1e-12, None)
        median = np.median(window, axis=1)
        real = self._beyond_noise(best - median)
        ratio = profiles / best[:, None]
        # A flat segment (lift within its noise): every hour is as good as its best.
        self._ratio = 1.0 - real[:, None] * (1.0 - ratio)  # (K, 168)
        self._keep = 1.0 - LIFT_AT_RISK * real * (best - median) / best  # (K,)
        self._real = real

    def _beyond_noise(self, lift: FloatArray) -> FloatArray:
        """1 for each segment whose absolute lift exceeds one standard error of an hour's
        rate in it (``NOISE_HOURS`` hours sharing its exposures), else 0. Models without
        segment sizes (hand-built) count every lift."""
        c = self.curves
        profiles, sizes = c.segment_profiles, np.asarray(c.segment_sizes, dtype=np.float64)
        per_user = float(c.exposures.mean(dtype=np.float64)) if c.exposures.shape[0] else 0.0
        if sizes.shape[0] != profiles.shape[0] or per_user <= 0.0 or not sizes.any():
            return np.ones(profiles.shape[0])
        rate = profiles.mean(axis=1)
        exposures = np.clip(sizes * per_user, 1e-9, None)
        noise = np.sqrt(rate * (1.0 - rate) * NOISE_HOURS / exposures)
        out: FloatArray = (lift > noise).astype(np.float64)
        return out

    def posterior(self, rows: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Each row's segment posterior ``(n, K)`` (the population shares for cold rows),
        the freshness of its evidence (``0.5 ** (age / STALE_HALF_LIFE_DAYS)``, 0 for cold
        rows) and the evidence age in days (inf for cold rows)."""
        c = self.curves
        rows = np.asarray(rows, dtype=np.int64)
        weights = c.segment_weights / max(float(c.segment_weights.sum()), 1e-12)
        known = (rows >= 0) & (rows < c.segment_resp.shape[0])
        post = np.tile(weights, (rows.shape[0], 1))
        age = np.full(rows.shape[0], np.inf)
        if known.any():
            resp = c.segment_resp[rows[known]]
            post[known] = resp / np.clip(resp.sum(axis=1, keepdims=True), 1e-300, None)
            newest = (
                c.newest_minute[rows[known]]
                if c.newest_minute.shape[0] == c.segment_resp.shape[0]
                else np.full(int(known.sum()), self.now_minute)
            )
            age[known] = np.clip(self.now_minute - newest, 0, None) / 1440.0
        fresh = np.where(known, 0.5 ** (np.where(known, age, 0.0) / STALE_HALF_LIFE_DAYS), 0.0)
        return post, fresh, age

    def scores(
        self, rows: IntArray, slots: IntArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
        """Vectorised ``score``: confidence, expected share of the best hour, expected
        lift at risk, top segment probability, evidence age (days; inf for cold rows) and
        posterior probability of a pattern beyond noise of sending each ``rows[i]`` at
        week ``slots[i]``."""
        rows = np.asarray(rows, dtype=np.int64)
        post, fresh, age = self.posterior(rows)
        ratio = self._ratio[:, np.asarray(slots, dtype=np.int64) // 60].T  # (n, K)
        mine = (post * ratio * self._keep[None, :]).sum(axis=1)
        weights = self.curves.segment_weights / max(float(self.curves.segment_weights.sum()), 1e-12)
        anyone = (ratio * (self._keep * weights)[None, :]).sum(axis=1)  # the population's
        value = np.clip(fresh * mine + (1.0 - fresh) * COLD_FACTOR * anyone, 0.0, 1.0)
        share = (post * ratio).sum(axis=1)
        at_risk = 1.0 - (post * self._keep[None, :]).sum(axis=1)
        return value, share, at_risk, post.max(axis=1), age, post @ self._real

    @staticmethod
    def _parts(
        share: float, at_risk: float, top: float, age: float, real: float
    ) -> dict[str, float]:
        return {
            "expected_share_of_best": round(share, 4),
            "lift_at_risk": round(at_risk, 4),
            "top_segment_probability": round(top, 4),
            "evidence_age_days": round(age, 2) if np.isfinite(age) else -1.0,
            "beyond_noise": round(real, 4),
        }

    def batch(self, rows: IntArray, slots: IntArray) -> list[tuple[float, dict[str, float]]]:
        """``score`` of many (row, slot) pairs at once."""
        value, share, risk, top, age, real = self.scores(rows, slots)
        return [
            (float(v), self._parts(float(s), float(r), float(t), float(a), float(b)))
            for v, s, r, t, a, b in zip(value, share, risk, top, age, real, strict=True)
        ]

    def score(self, row: int, slot: int) -> tuple[float, dict[str, float]]:
        """Confidence (0–1) of sending ``row``'s recipient at week ``slot``, and its parts."""
        key = (row, slot)
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = self.batch(np.asarray([row]), np.asarray([slot]))[0]
        return hit
