"""Confidence of a decision: an estimate of how close it comes to the best minute (0–1).

Two things can make a decision fall short of the best minute of the window:

1. the engine has the recipient's pattern wrong. The pattern is a posterior
   over behaviour segments (``segments``); under segment k the chosen hour is
   worth ``P_k[chosen] / max P_k[window]`` of the best hour, and the expected
   share of the best is that ratio averaged over the posterior. The posterior
   is tempered (``TEMPERATURE``: EM responsibilities are over-confident) and
   pulled toward the segments' population shares as the newest evidence ages
   (half-life ``STALE_HALF_LIFE_DAYS``); a cold recipient *is* the population
   shares, and gets ``COLD_FACTOR`` of it on top.
2. the curve is sharp and the exact hour or minute is missed: what is at stake
   is the recipient's own lift, best hour over median hour of the window
   (``LIFT_AT_RISK`` of it is counted as lost).

    confidence = Σ_k r_k · P_k[chosen] / max P_k[window] × (1 − lift)   (× COLD_FACTOR if cold)

So it is low for cold and stale recipients, for a pattern the evidence cannot
pin down, and for sharp curves; a recipient known to engage about equally at any
hour scores high, because any minute is close to the best one for them.
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
    "STALE_HALF_LIFE_DAYS",
    "TEMPERATURE",
    "ConfidenceScorer",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Evidence this old counts half toward the posterior (the rest: population shares).
STALE_HALF_LIFE_DAYS: Final = 180.0
#: Responsibilities are raised to 1/TEMPERATURE and renormalised.
TEMPERATURE: Final = 3.0
#: A cold recipient's confidence: this share of what the population prior says.
COLD_FACTOR: Final = 0.5
#: Share of the curve's lift (best hour over median hour) taken as at risk.
LIFT_AT_RISK: Final = 1.0


@dataclass
class ConfidenceScorer:
    """Scores decisions of one request: built once per window, ``score`` per recipient."""

    curves: CurveModel
    window_slots: IntArray
    now_minute: int
    _ratio: FloatArray = field(init=False, repr=False)
    _hours: IntArray = field(init=False, repr=False)
    _memo: dict[tuple[int, int], tuple[float, dict[str, float]]] = field(
        init=False, repr=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        profiles = self.curves.segment_profiles
        hours = np.unique(np.asarray(self.window_slots, dtype=np.int64) // 60)
        best = profiles[:, hours].max(axis=1, keepdims=True)
        self._ratio = profiles / np.clip(best, 1e-12, None)  # (K, 168)
        self._hours = hours

    def scores(
        self, rows: IntArray, slots: IntArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Vectorised ``score``: confidence, expected share of the best, top segment
        probability and evidence age (days; inf for cold rows) of sending each
        ``rows[i]`` at week ``slots[i]``."""
        c = self.curves
        rows = np.asarray(rows, dtype=np.int64)
        weights = c.segment_weights / max(float(c.segment_weights.sum()), 1e-12)
        known = (rows >= 0) & (rows < c.segment_resp.shape[0])
        post = np.tile(weights, (rows.shape[0], 1))
        age = np.full(rows.shape[0], np.inf)
        if known.any():
            r = np.clip(c.segment_resp[rows[known]], 1e-300, None) ** (1.0 / TEMPERATURE)
            r /= r.sum(axis=1, keepdims=True)
            newest = (
                c.newest_minute[rows[known]]
                if c.newest_minute.shape[0] == c.segment_resp.shape[0]
                else np.full(int(known.sum()), self.now_minute)
            )
            age[known] = np.clip(self.now_minute - newest, 0, None) / 1440.0
            fresh = (0.5 ** (age[known] / STALE_HALF_LIFE_DAYS))[:, None]
            post[known] = fresh * r + (1.0 - fresh) * weights
        ratio = self._ratio[:, np.asarray(slots, dtype=np.int64) // 60].T  # (n, K)
        share = (post * ratio).sum(axis=1)
        # What is at stake: the recipient's own curve, its best hour of the window over
        # its median hour. A flat curve has little to lose; a sharp one loses most of
        # its lift when the exact hour or minute is missed.
        mine = (
            c.hour_rate[np.where(known, rows, 0)][:, self._hours]
            if c.hour_rate.shape[0]  # a model fitted on no recipient at all has no rows
            else np.zeros((rows.shape[0], self._hours.shape[0]))
        )
        own = np.where(known[:, None], mine, c.global_hour_rate[self._hours][None, :])
        top = own.max(axis=1)
        lift = (top - np.median(own, axis=1)) / np.clip(top, 1e-12, None)
        share = share * (1.0 - LIFT_AT_RISK * lift)
        value = np.clip(np.where(known, share, COLD_FACTOR * share), 0.0, 1.0)
        return value, share, post.max(axis=1), age

    def batch(self, rows: IntArray, slots: IntArray) -> list[tuple[float, dict[str, float]]]:
        """``score`` of many (row, slot) pairs at once."""
        value, share, top, age = self.scores(rows, slots)
        return [
            (float(v), {"expected_share_of_best": round(float(s), 4),
                        "top_segment_probability": round(float(t), 4),
                        "evidence_age_days": round(float(a), 2) if np.isfinite(a) else -1.0})
            for v, s, t, a in zip(value, share, top, age, strict=True)
        ]  # fmt: skip

    def score(self, row: int, slot: int) -> tuple[float, dict[str, float]]:
        """Confidence (0–1) of sending ``row``'s recipient at week ``slot``, and its parts."""
        key = (row, slot)
        hit = self._memo.get(key)
        if hit is None:
            value, share, top, age = self.scores(np.asarray([row]), np.asarray([slot]))
            parts = {
                "expected_share_of_best": round(float(share[0]), 4),
                "top_segment_probability": round(float(top[0]), 4),
                "evidence_age_days": round(float(age[0]), 2) if np.isfinite(age[0]) else -1.0,
            }
            hit = self._memo[key] = (float(value[0]), parts)
        return hit
