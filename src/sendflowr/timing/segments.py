"""Behaviour segments: a mixture of hour-of-week engagement profiles, fitted by EM.

A single recipient has too few deliveries (~1 per hour-of-week cell) to learn
a week curve alone; recipients who behave alike do. Each segment k has an
engagement rate ``p[k, c]`` for every hour-of-week cell c; a recipient belongs
to the segments in proportion to how well each explains *all* of their
deliveries (Bernoulli likelihood of engaged / not engaged per delivery, so
evidence adds up over the whole history instead of being compared cell by
cell). Segment profiles are smoothed circularly and shrunk toward the global
rate. Initialisation is k-means++ over the recipients' profiles with a seeded
generator: ``restarts`` short runs, and the one with the best log-likelihood is run on
to convergence. Above
``FIT_USERS`` recipients the EM runs on a seeded sample of them (segments are
shared shapes: a sample of 20,000 pins them down) and every recipient is then
scored once, so the cost per recipient stays flat however large the audience.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

__all__ = ["FIT_USERS", "Segments", "fit_segments", "responsibilities", "segment_profiles"]

FloatArray = npt.NDArray[np.float64]
_EPS = 1e-6
#: most recipients the EM is fitted on (a seeded sample; every recipient is scored after)
FIT_USERS = 20_000


@dataclass(frozen=True)
class Segments:
    """Fitted segments: ``profiles`` (K, cells), ``weights`` (K,), ``resp`` (n, K), and
    ``activity`` (K, 24), each segment's activity distribution over the hours of the day
    (None when fitted without activity signals)."""

    profiles: FloatArray
    weights: FloatArray
    resp: FloatArray
    loglik: float
    activity: FloatArray | None = None

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
    strength: float,
    kernel: tuple[float, float, float],
    act: FloatArray | None = None,
    act_strength: float = 0.0,
    rounds: int = 6,
    day_pool: float = 0.0,
) -> FloatArray:
    """Segment profiles ``rate(day, hour) = base + day[d] · hour[h]`` (day, hour ≥ 0).

    A baseline plus a rank-one day × hour lift: 32 parameters per segment instead
    of 168 (a free hour-of-week profile fits noise: its likelihood beats the true
    segmentation's), yet it can say "10–15 h, but only at weekends", which a
    plain day-rate × hour-rate product cannot. Fitted by alternating least
    squares on the cell rates, each weighted by the segment's exposures there:
    cells nothing was ever sent in carry no weight (filling them with a prior
    made "sent hours vs never-sent hours" the dominant lift and drowned the
    weekday pattern). Cell rates are shrunk toward the segment's own mean rate
    with ``strength`` pseudo-exposures; ``day`` is scaled to a maximum of 1 and
    ``hour`` is smoothed circularly.

    ``act`` (K, 24) is each segment's distribution of activity signals over the
    hours of the day. It is a prior on the hour lift, ``c · act[h]`` (``c``: the
    least-squares slope of lift on activity share over the hours that have
    exposures, pooled over segments), weighing ``act_strength`` × the segment's
    mean exposure per hour; hours without any exposure take it alone, so hours
    in which nothing was ever sent are learned from when the segment's users
    are active.

    ``day_pool`` shrinks each day's lift toward the mean of its calendar group
    (Monday–Friday, Saturday–Sunday: ``DAY_GROUPS``), with that many times a
    day's average information (``_pool_days``).
    """
    k = resp.shape[1]
    k_en = (resp.T @ en).reshape(k, 7, 24)
    k_ex = (resp.T @ ex).reshape(k, 7, 24)
    mean = k_en.sum(axis=(1, 2)) / k_ex.sum(axis=(1, 2)).clip(1e-9)
    rate = (k_en + strength * mean[:, None, None]) / (k_ex + strength)
    w = k_ex + 1e-9
    seen = k_ex.sum(axis=1) > 0.5  # (k, 24): hours with exposures
    base = (w * rate).sum(axis=(1, 2)) / w.sum(axis=(1, 2))
    day = np.ones((k, 7))
    hour = _hour_step(rate - base[:, None, None], w, day, seen, act, act_strength, kernel)
    for _ in range(rounds):
        lift = rate - base[:, None, None]
        day = (w * lift * hour[:, None, :]).sum(axis=2) / (
            (w * hour[:, None, :] ** 2).sum(axis=2) + 1e-12
        )
        if day_pool > 0:
            day = _pool_days(day, (w * hour[:, None, :] ** 2).sum(axis=2), day_pool)
        day = np.clip(day, 0.0, None)
        day /= day.max(axis=1, keepdims=True).clip(1e-12)
        hour = _hour_step(lift, w, day, seen, act, act_strength, kernel)
        fitted = day[:, :, None] * hour[:, None, :]
        base = (w * (rate - fitted)).sum(axis=(1, 2)) / w.sum(axis=(1, 2))
    out: FloatArray = np.clip(
        (base[:, None, None] + day[:, :, None] * hour[:, None, :]).reshape(k, 168), _EPS, 1 - _EPS
    )
    return out


#: Calendar groups of days (0 = Monday): the working week and the weekend.
DAY_GROUPS = np.array([0, 0, 0, 0, 0, 1, 1])


def _pool_days(day: FloatArray, info: FloatArray, strength: float) -> FloatArray:
    """Each day's lift (K, 7) shrunk toward its calendar group's information-weighted mean.

    A segment's lift on one weekday rests on a few hundred deliveries, and with seven
    free days the best of five inactive weekdays beat the weekend on some seeds. Days
    of one group usually behave alike (a weekend person, a nine-to-five one), so each
    day borrows from its group with ``strength`` × the segment's mean information per
    day (``info``: Σ exposures × hour lift² of each day). Within a group the order of
    the days is kept; between groups the comparison rests on five and two days of
    evidence instead of one, so a segment active on some weekdays only keeps them.
    """
    out = day.copy()
    tau = strength * info.mean(axis=1, keepdims=True)
    for group in np.unique(DAY_GROUPS):
        m = DAY_GROUPS == group
        mean = (info[:, m] * day[:, m]).sum(axis=1, keepdims=True) / info[:, m].sum(
            axis=1, keepdims=True
        ).clip(1e-12)
        out[:, m] = (info[:, m] * day[:, m] + tau * mean) / (info[:, m] + tau).clip(1e-12)
    return out


def _hour_step(
    lift: FloatArray,
    w: FloatArray,
    day: FloatArray,
    seen: npt.NDArray[np.bool_],
    act: FloatArray | None,
    act_strength: float,
    kernel: tuple[float, float, float],
) -> FloatArray:
    """Least-squares hour lift given ``day``, with the activity prior (see ``_profiles``)."""
    num = (w * lift * day[:, :, None]).sum(axis=1)
    den = (w * day[:, :, None] ** 2).sum(axis=1)
    hour = np.clip(num / (den + 1e-12), 0.0, None)
    if act is not None:
        act = _smooth(_smooth(act, kernel), kernel)
        sq = float((act**2 * seen).sum())
        c = max(float((hour * act * seen).sum()) / sq, 0.0) if sq > 0 else 0.0
        lam = act_strength * den.mean(axis=1, keepdims=True)
        hour = np.where(seen, (num + lam * c * act) / (den + lam + 1e-12), c * act)
    out: FloatArray = np.clip(_smooth(np.clip(hour, 0.0, None), kernel), 0.0, None)
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


def segment_profiles(
    resp: FloatArray,
    en: FloatArray,
    ex: FloatArray,
    *,
    strength: float,
    kernel: tuple[float, float, float],
    activity: FloatArray | None = None,
    activity_pseudo: float = 0.1,
    act_strength: float = 1.0,
    day_pool: float = 0.0,
) -> tuple[FloatArray, FloatArray | None]:
    """The segments of the partition ``resp`` (n, K): their hour-of-week profiles (K, cells)
    and, with ``activity``, their activity profiles (K, 24), else None.

    The M-step of ``fit_segments`` (same arguments): given its responsibilities, these are
    the segments the EM fits. Given the true partition of a generated audience (one segment
    per persona), they are what a perfect segmentation would decide on
    (``bench/timing_ceiling.py``, the truth-pooled ceiling).
    """
    act = _activity_profiles(resp, activity, activity_pseudo) if activity is not None else None
    profiles = _profiles(resp, en, ex, strength, kernel, act, act_strength, day_pool=day_pool)
    return profiles, act


def _responsibilities(
    profiles: FloatArray,
    weights: FloatArray,
    en: FloatArray,
    miss: FloatArray,
    activity: FloatArray | None = None,
    act_profiles: FloatArray | None = None,
) -> tuple[FloatArray, float]:
    """Bernoulli likelihood of every delivery's outcome under each segment (``miss``:
    exposures not engaged, ``ex − en``), plus the likelihood of the hours of the
    recipient's activity signals."""
    log_p, log_q = np.log(profiles), np.log1p(-profiles)
    ll = en @ log_p.T + miss @ log_q.T + np.log(np.clip(weights, _EPS, None))
    if activity is not None and act_profiles is not None:
        ll += activity @ np.log(act_profiles).T
    top = ll.max(axis=1, keepdims=True)
    w = np.exp(ll - top)
    total = w.sum(axis=1, keepdims=True)
    resp: FloatArray = w / total
    return resp, float((np.log(total) + top).sum())


def responsibilities(
    profiles: FloatArray,
    weights: FloatArray,
    en: FloatArray,
    ex: FloatArray,
    activity: FloatArray | None = None,
    activity_profiles: FloatArray | None = None,
) -> FloatArray:
    """Each recipient's posterior over fitted segments (n, K): what a full fit gives the
    same recipients, for new or changed ones scored against frozen segments."""
    return _responsibilities(profiles, weights, en, ex - en, activity, activity_profiles)[0]


def _seed_centres(feats: FloatArray, k: int, rng: np.random.Generator) -> list[int]:
    """k-means++ seeds: each next centre drawn in proportion to the squared distance to
    the nearest centre so far (kept as a running minimum: O(n · cells) per centre)."""
    n = feats.shape[0]
    centres = [int(rng.integers(n))]
    nearest = np.full(n, np.inf)
    for _ in range(1, k):
        d = ((feats - feats[centres[-1]]) ** 2).sum(axis=1)
        np.minimum(nearest, d, out=nearest)
        total = nearest.sum()
        probs = nearest / total if total > 0 else np.full(n, 1.0 / n)
        centres.append(int(rng.choice(n, p=probs)))
    return centres


def fit_segments(
    en: FloatArray,
    ex: FloatArray,
    prior: FloatArray,
    *,
    k: int,
    strength: float,
    kernel: tuple[float, float, float],
    seed: int = 0,
    restarts: int = 16,
    short: int = 15,
    iterations: int = 60,
    activity: FloatArray | None = None,
    activity_pseudo: float = 0.1,
    act_strength: float = 1.0,
    fit_users: int = FIT_USERS,
    day_pool: float = 0.0,
) -> Segments:
    """EM over recipients' engagement ``en`` and exposure ``ex`` (n, cells) arrays.

    ``prior`` (cells,) is the global rate each segment shrinks toward with
    ``strength`` pseudo-exposures. ``activity`` (n, 24) are weighted counts of
    each recipient's activity signals by hour of day (optional);
    ``activity_pseudo`` is the per-hour pseudo-count of the segments' activity profiles,
    ``act_strength`` the weight of their activity as a prior on the hour lift and
    ``day_pool`` the pull of each day toward its calendar group (``_profiles``).
    With more than ``fit_users`` recipients the EM runs on a seeded sample of them and
    ``resp`` covers every recipient.
    """
    n_all = en.shape[0]
    k = max(1, min(k, n_all))
    rng = np.random.default_rng(seed)
    all_en, all_ex, all_act = en, ex, activity
    if n_all > fit_users:
        sample = np.sort(rng.choice(n_all, fit_users, replace=False))
        en, ex = en[sample], ex[sample]
        activity = activity[sample] if activity is not None else None
    n = en.shape[0]
    miss = ex - en
    rates = (_smooth(en, kernel) + strength * prior) / (_smooth(ex, kernel) + strength)
    feats = np.sqrt(rates / rates.sum(axis=1, keepdims=True).clip(1e-12))

    def run(state: Segments, steps: int) -> Segments:
        profiles, weights, act = state.profiles, state.weights, state.activity
        previous = -np.inf
        for _ in range(steps):
            resp, ll = _responsibilities(profiles, weights, en, miss, activity, act)
            weights = resp.mean(axis=0)
            profiles, act = segment_profiles(
                resp,
                en,
                ex,
                strength=strength,
                kernel=kernel,
                activity=activity,
                activity_pseudo=activity_pseudo,
                act_strength=act_strength,
                day_pool=day_pool,
            )
            if ll - previous < 1e-7 * abs(ll):
                break
            previous = ll
        resp, ll = _responsibilities(profiles, weights, en, miss, activity, act)
        return Segments(profiles, weights, resp, ll, act)

    # Many short runs from different starts, then the likeliest run on to convergence.
    # Four full runs left two behaviours merged on some seeds (lunch_browser with
    # weekend_warrior: one segment, no weekday pattern), and which seeds depended on who
    # else was in the audience (added recipients reshuffle the starts). Sixteen starts of
    # 15 steps find the better optimum far more often, at about twice the EM's cost.
    best: Segments | None = None
    for _ in range(restarts):
        centres = _seed_centres(feats, k, rng)
        act = None
        if activity is not None:
            seeds = np.zeros((n, k))
            seeds[centres, np.arange(k)] = 1.0
            act = _activity_profiles(seeds, activity, activity_pseudo)
        start = Segments(np.clip(rates[centres], _EPS, 1 - _EPS), np.full(k, 1.0 / k),
                         np.zeros((0, k)), -np.inf, act)  # fmt: skip
        state = run(start, short)
        if best is None or state.loglik > best.loglik:
            best = state
    assert best is not None
    best = run(best, iterations)
    if n < n_all:
        resp = responsibilities(best.profiles, best.weights, all_en, all_ex, all_act,
                                best.activity)  # fmt: skip
        best = replace(best, resp=resp)
    return best
