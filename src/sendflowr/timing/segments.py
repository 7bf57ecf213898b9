"""Behaviour segments: a mixture of hour-of-week engagement profiles, fitted by EM.

A single recipient has too few deliveries (~1 per hour-of-week cell) to learn
a week curve alone; recipients who behave alike do. Each segment k has an
engagement rate ``p[k, c]`` for every hour-of-week cell c; a recipient belongs
to the segments in proportion to how well each explains *all* of their
deliveries (Bernoulli likelihood of engaged / not engaged per delivery, so
evidence adds up over the whole history instead of being compared cell by
cell). Segment profiles are smoothed circularly and shrunk toward the global
rate. Initialisation is k-means++ over the recipients' profiles with a seeded
generator, with a few restarts; the best log-likelihood wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Segments", "fit_segments"]

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-6


@dataclass(frozen=True)
class Segments:
    """Fitted segments: ``profiles`` (K, cells), ``weights`` (K,), ``resp`` (n, K)."""

    profiles: FloatArray
    weights: FloatArray
    resp: FloatArray
    loglik: float

    def prior(self) -> FloatArray:
        """Each recipient's prior rates (n, cells): the segment mixture Σ_k resp · profile."""
        out: FloatArray = self.resp @ self.profiles
        return out


def _smooth(values: FloatArray, kernel: tuple[float, float, float]) -> FloatArray:
    left, mid, right = kernel
    out: FloatArray = (
        left * np.roll(values, 1, axis=-1) + mid * values + right * np.roll(values, -1, axis=-1)
    )
    return out


def _profiles(
    resp: FloatArray,
    en: FloatArray,
    ex: FloatArray,
    prior: FloatArray,
    strength: float,
    kernel: tuple[float, float, float],
    rounds: int = 6,
) -> FloatArray:
    """Segment profiles ``rate(day, hour) = base + day[d] · hour[h]`` (day, hour ≥ 0).

    A baseline plus a rank-one day × hour lift: 32 parameters per segment instead
    of 168 (a free hour-of-week profile fits noise: its likelihood beats the true
    segmentation's), yet it can say "10–15 h, but only at weekends", which a
    plain day-rate × hour-rate product cannot. Fitted by weighted alternating
    least squares on the shrunk cell rates; ``hour`` is smoothed circularly.
    """
    k = resp.shape[1]
    k_en = (resp.T @ en).reshape(k, 7, 24)
    k_ex = (resp.T @ ex).reshape(k, 7, 24)
    g = prior.reshape(1, 7, 24)
    rate = (k_en + strength * g) / (k_ex + strength)
    w = k_ex + strength
    base = (w * rate).sum(axis=(1, 2)) / w.sum(axis=(1, 2))
    day = np.ones((k, 7))
    hour = np.clip((w * (rate - base[:, None, None])).sum(axis=1) / w.sum(axis=1), 0.0, None)
    for _ in range(rounds):
        lift = rate - base[:, None, None]
        day = (w * lift * hour[:, None, :]).sum(axis=2) / (
            (w * hour[:, None, :] ** 2).sum(axis=2) + 1e-12
        )
        day = np.clip(day, 0.0, None)
        hour = (w * lift * day[:, :, None]).sum(axis=1) / (
            (w * day[:, :, None] ** 2).sum(axis=1) + 1e-12
        )
        hour = np.clip(_smooth(hour, kernel), 0.0, None)
        fitted = day[:, :, None] * hour[:, None, :]
        base = (w * (rate - fitted)).sum(axis=(1, 2)) / w.sum(axis=(1, 2))
    out: FloatArray = np.clip(
        (base[:, None, None] + day[:, :, None] * hour[:, None, :]).reshape(k, 168), _EPS, 1 - _EPS
    )
    return out


def _activity_profiles(resp: FloatArray, activity: FloatArray, pseudo: float) -> FloatArray:
    """Each segment's distribution of activity signals over the hours of the day.

    Not smoothed across hours: browsing happens in a persona's own hours, and
    leaking a 11–14 h segment's mass into 10 h and 15 h made a 9–16 h user's
    activity at 10 h or 15 h look like evidence for the narrower segment (the
    weekend-vs-lunch confusion). ``pseudo`` counts per hour keep unseen hours
    possible without flattening the profile.
    """
    counts = resp.T @ activity + pseudo
    out: FloatArray = counts / counts.sum(axis=1, keepdims=True)
    return out


def _responsibilities(
    profiles: FloatArray,
    weights: FloatArray,
    en: FloatArray,
    ex: FloatArray,
    activity: FloatArray | None = None,
    act_profiles: FloatArray | None = None,
) -> tuple[FloatArray, float]:
    """Bernoulli likelihood of every delivery's outcome under each segment, plus the
    likelihood of the hours of the recipient's activity signals."""
    log_p, log_q = np.log(profiles), np.log1p(-profiles)
    ll = en @ log_p.T + (ex - en) @ log_q.T + np.log(np.clip(weights, _EPS, None))
    if activity is not None and act_profiles is not None:
        ll += activity @ np.log(act_profiles).T
    top = ll.max(axis=1, keepdims=True)
    w = np.exp(ll - top)
    total = w.sum(axis=1, keepdims=True)
    resp: FloatArray = w / total
    return resp, float((np.log(total) + top).sum())


def fit_segments(
    en: FloatArray,
    ex: FloatArray,
    prior: FloatArray,
    *,
    k: int,
    strength: float,
    kernel: tuple[float, float, float],
    seed: int = 0,
    restarts: int = 4,
    iterations: int = 60,
    activity: FloatArray | None = None,
    activity_pseudo: float = 0.1,
) -> Segments:
    """EM over recipients' engagement ``en`` and exposure ``ex`` (n, cells) arrays.

    ``prior`` (cells,) is the global rate each segment shrinks toward with
    ``strength`` pseudo-exposures. ``activity`` (n, 24) are weighted counts of
    each recipient's activity signals by hour of day (optional);
    ``activity_pseudo`` is the per-hour pseudo-count of the segments' activity profiles.
    """
    n = en.shape[0]
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    rates = (_smooth(en, kernel) + strength * prior) / (_smooth(ex, kernel) + strength)
    feats = np.sqrt(rates / rates.sum(axis=1, keepdims=True).clip(1e-12))
    best: Segments | None = None
    for _ in range(restarts):
        centres = [int(rng.integers(n))]
        for _ in range(1, k):
            d = ((feats[:, None, :] - feats[centres][None, :, :]) ** 2).sum(axis=2).min(axis=1)
            probs = d / d.sum() if d.sum() > 0 else np.full(n, 1.0 / n)
            centres.append(int(rng.choice(n, p=probs)))
        profiles = np.clip(rates[centres], _EPS, 1 - _EPS)
        weights = np.full(k, 1.0 / k)
        act = None
        if activity is not None:
            seeds = np.zeros((n, k))
            seeds[centres, np.arange(k)] = 1.0
            act = _activity_profiles(seeds, activity, activity_pseudo)
        previous = -np.inf
        for _ in range(iterations):
            resp, ll = _responsibilities(profiles, weights, en, ex, activity, act)
            weights = resp.mean(axis=0)
            profiles = _profiles(resp, en, ex, prior, strength, kernel)
            if activity is not None:
                act = _activity_profiles(resp, activity, activity_pseudo)
            if ll - previous < 1e-7 * abs(ll):
                break
            previous = ll
        resp, ll = _responsibilities(profiles, weights, en, ex, activity, act)
        if best is None or ll > best.loglik:
            best = Segments(profiles, weights, resp, ll)
    assert best is not None
    return best
