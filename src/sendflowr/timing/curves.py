"""Response curves by delivery minute, learned from delivered → engagement joins.

Each delivered message is one exposure at its *delivery* minute; it scores 1
if it was clicked, ``open_weight`` if it was only opened by a human (opens are
weak, MPP-inflated signals), else 0. Rates (score per exposure) are estimated
on the hour-of-week and minute-of-hour projections of the week grid and
recombined into a 10,080-slot curve:

    global ← segment mixture (EM, see ``segments``) ← user long run ← user recent (72 h)

each level shrinking toward the one before it in proportion to its evidence.
Shrinkage strengths of rates are pseudo-exposures (a strength of 5 = "as much
as five deliveries' worth of evidence"); the minute factor's is in engagements.
Hour-of-week rates are smoothed circularly (Sunday 23h wraps to Monday 00h).
Cohorts are behaviour segments: a user's prior is the mixture of segment
profiles weighted by how well each explains all of the user's deliveries.
A user's long-run rate re-weights the cohort's hour-of-week shape by the
user's own day and hour rates (a day × hour factorisation needs far fewer
exposures than 168 independent cells). The minute-of-hour factor is shrunk
the same way. Users with no history get the global curve and are flagged cold.

When people are around is read from their hot paths and from their opens and
clicks at their own minutes, beyond what the send times explain
(``_engaged_activity``): segments are told apart by it, and hours no campaign
sends in take their hour lift from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sendflowr.timing.grid import SLOTS_PER_WEEK
from sendflowr.timing.segments import fit_segments

__all__ = ["CurveConfig", "CurveModel", "Evidence", "fit_curves"]

FloatArray = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
_HOURS = 168


@dataclass(frozen=True)
class CurveConfig:
    """Hyper-parameters of the curves; defaults as docs/engine.md describes."""

    half_life_hours: float = 72.0
    long_half_life_hours: float = 2160.0
    open_weight: float = 1.0
    user_strength: float = 100.0
    segments: int = 12
    seed: int = 0
    cohort_strength: float = 5.0
    global_strength: float = 1.0
    recent_strength: float = 40.0
    minute_strength: float = 40.0
    unexplored_factor: float = 0.5
    uniform_prior: float = 0.02
    hour_kernel: tuple[float, float, float] = (0.25, 0.5, 0.25)
    activity_weight: float = 2.0
    engaged_weight: float = 1.0
    day_pool: float = 1.0
    activity_pseudo: float = 0.1
    activity_prior: float = 3.0


@dataclass(frozen=True)
class Evidence:
    """One row per delivered message: who, when delivered, what came of it.

    ``activity_*`` are the users' own activity signals (site visits, SMS clicks,
    product views): when someone browses is when they are around, so each counts
    as evidence of which segment a user belongs to (``CurveConfig.activity_weight``).
    """

    universal_ids: list[str]
    user_index: npt.NDArray[np.int64]
    delivered_minute: npt.NDArray[np.int64]
    clicked: npt.NDArray[np.bool_]
    opened: npt.NDArray[np.bool_]
    activity_index: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    activity_minute: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    #: each engaged message's first human open or click, at *its own* minute (not the
    #: delivery's): when someone reads mail is when they are awake, also in hours that
    #: no campaign sends in (``CurveConfig.engaged_weight``)
    engaged_index: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    engaged_minute: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def size(self) -> int:
        """Number of delivered messages."""
        return int(self.user_index.shape[0])


@dataclass
class CurveModel:
    """Fitted curve factors: ``hour_rate`` (n, 168) × ``minute_factor`` (n, 60) per user."""

    config: CurveConfig
    universal_ids: list[str]
    hour_rate: FloatArray
    minute_factor: FloatArray
    exposures: FloatArray
    engagement: FloatArray
    recent_exposures: FloatArray
    cohort_size: npt.NDArray[np.int64]
    global_hour_rate: FloatArray
    global_minute_factor: FloatArray
    fitted_at_minute: int
    version: str
    #: each user's newest evidence (epoch minute); empty = all fresh (as of ``fitted_at_minute``)
    newest_minute: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    #: behaviour segments: hour-of-week rates (K, 168), shares (K,), each user's posterior (n, K)
    segment_profiles: FloatArray = field(default_factory=lambda: np.ones((1, _HOURS)))
    segment_weights: FloatArray = field(default_factory=lambda: np.ones(1))
    segment_resp: FloatArray = field(default_factory=lambda: np.zeros((0, 1)))
    index: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.index = {uid: i for i, uid in enumerate(self.universal_ids)}

    def rows(self, universal_ids: list[str]) -> npt.NDArray[np.int64]:
        """Row of each id in this model, −1 for a cold (unknown) recipient."""
        return np.fromiter((self.index.get(u, -1) for u in universal_ids), np.int64)

    def curves(self, rows: npt.NDArray[np.int64]) -> FloatArray:
        """Base curves ``(len(rows), 10080)``; row −1 gets the global (cold-start) curve."""
        known = rows >= 0
        hours = np.empty((rows.shape[0], _HOURS))
        minutes = np.empty((rows.shape[0], 60))
        hours[known] = self.hour_rate[rows[known]]
        minutes[known] = self.minute_factor[rows[known]]
        hours[~known] = self.global_hour_rate
        minutes[~known] = self.global_minute_factor
        curve = hours[:, :, None] * minutes[:, None, :]
        out = curve.reshape(rows.shape[0], SLOTS_PER_WEEK)
        out += self.config.uniform_prior * out.mean(axis=1, keepdims=True)
        return out

    def factors(self, rows: npt.NDArray[np.int64]) -> tuple[F32Array, F32Array, F32Array]:
        """The rows' curves as float32 factors ``(hours (n, 168), minutes (n, 60), floor (n,))``.

        ``curve[s] = hours[:, s // 60] * minutes[:, s % 60] + floor`` (float32 arithmetic):
        what ``window`` evaluates. Row −1 gets the global (cold-start) factors.
        """
        known = rows >= 0
        hours = np.empty((rows.shape[0], _HOURS))
        minutes = np.empty((rows.shape[0], 60))
        hours[known] = self.hour_rate[rows[known]]
        minutes[known] = self.minute_factor[rows[known]]
        hours[~known] = self.global_hour_rate
        minutes[~known] = self.global_minute_factor
        floor = self.config.uniform_prior * (hours.mean(axis=1) * minutes.mean(axis=1))
        return hours.astype(np.float32), minutes.astype(np.float32), floor.astype(np.float32)

    def window(self, rows: npt.NDArray[np.int64], slots: npt.NDArray[np.int64]) -> FloatArray:
        """Base curve values ``(len(rows), len(slots))`` at the given week slots only.

        Equal to ``curves(rows)[:, slots]`` without building the whole week.
        """
        # float32: half the memory traffic of the (recipients × minutes) arrays.
        h32, m32, floor = self.factors(rows)
        out = h32[:, slots // 60] * m32[:, slots % 60]
        out += floor[:, None]
        return out  # type: ignore[return-value]

    def evidence_weight(self, rows: npt.NDArray[np.int64]) -> FloatArray:
        """Effective engaged messages behind each row's curve (0 for cold rows)."""
        out = np.zeros(rows.shape[0])
        known = rows >= 0
        out[known] = self.engagement[rows[known]]
        return out


def _smooth_hours(values: FloatArray, kernel: tuple[float, float, float]) -> FloatArray:
    """Circular smoothing along the last (168-hour) axis: Sunday 23h neighbours Monday 00h."""
    left, mid, right = kernel
    return left * np.roll(values, 1, axis=-1) + mid * values + right * np.roll(values, -1, axis=-1)


def _bins(index: npt.NDArray[np.int64], weights: FloatArray, n_rows: int, width: int) -> FloatArray:
    flat = np.bincount(index, weights=weights, minlength=n_rows * width).astype(np.float64)
    out: FloatArray = flat.reshape(n_rows, width)
    return out


def _newest(evidence: Evidence, n: int, now_minute: int) -> npt.NDArray[np.int64]:
    """Each user's newest delivery or activity minute (not after ``now_minute``)."""
    newest = np.full(n, np.iinfo(np.int64).min // 2, dtype=np.int64)
    np.maximum.at(newest, evidence.user_index, evidence.delivered_minute)
    np.maximum.at(newest, evidence.activity_index, evidence.activity_minute)
    np.maximum.at(newest, evidence.engaged_index, evidence.engaged_minute)
    out: npt.NDArray[np.int64] = np.minimum(newest, now_minute)
    return out


def _engaged_activity(
    evidence: Evidence, newest: npt.NDArray[np.int64], n: int, config: CurveConfig
) -> tuple[FloatArray, float]:
    """Each user's engagement times by hour of day (n, 24), beyond what their send times explain.

    Where people read mail when they are awake, the hour of an open says when its reader
    is around, also in hours nothing is sent in. Where the delay to an open does not
    depend on the clock, opens are only the engaged deliveries shifted by that delay and
    would paint every segment with the send schedule. So the population's delay is
    fitted as a shift and spread of the engaged deliveries' hours (``_delay_kernel``),
    and each user counts only the opens in excess of their own engaged deliveries moved
    by it, shrunk by how much of that excess is more than chance (``_signal_share``):
    nothing when delays ignore the clock, the awake hours when they do not. Returns the
    counts and that share.
    """
    e_idx, e_min = evidence.engaged_index, evidence.engaged_minute
    e_age = np.clip(newest[e_idx] - e_min, 0, None) / 60.0
    e_w = 0.5 ** (e_age / config.long_half_life_hours)
    observed = _bins(e_idx * 24 + (e_min % 1440) // 60, e_w, n, 24)
    hit = evidence.clicked | evidence.opened
    d_idx, d_min = evidence.user_index[hit], evidence.delivered_minute[hit]
    d_age = np.clip(newest[d_idx] - d_min, 0, None) / 60.0
    sent = _bins(d_idx * 24 + (d_min % 1440) // 60, 0.5 ** (d_age / config.long_half_life_hours),
                 n, 24)  # fmt: skip
    shift, spread = _delay_kernel(observed.sum(axis=0), sent.sum(axis=0))
    expected = _spread(np.roll(sent, shift, axis=1), spread)
    expected *= (observed.sum(axis=1) / expected.sum(axis=1).clip(1e-12))[:, None]
    share = _signal_share(observed, expected)
    out: FloatArray = np.clip(share * (observed - expected), 0, None)
    return out, share


def _signal_share(observed: FloatArray, expected: FloatArray) -> float:
    """How much of the users' departure from ``expected`` is more than chance (0–1).

    James–Stein: with ``d`` free hours a user's χ² of pure noise averages ``d``, so
    ``1 − d / mean χ²`` (users with at least 10 engagements, at least 0) is the share of
    the departures to keep. It is ≈ 0 where open delays ignore the clock (χ² ≈ 23 per
    user on the all-UTC worlds) and ≈ 0.5 where people open when awake (χ² ≈ 50).
    """
    enough = observed.sum(axis=1) >= 10
    if not enough.any():
        return 0.0
    o, e = observed[enough], expected[enough]
    chi2 = ((o - e) ** 2 / e.clip(0.5)).sum(axis=1)
    free = observed.shape[1] - 1
    return float(max(0.0, 1.0 - free / max(float(chi2.mean()), 1e-9)))


def _spread(values: FloatArray, width: float) -> FloatArray:
    out: FloatArray = (1 - 2 * width) * values + width * (
        np.roll(values, 1, axis=-1) + np.roll(values, -1, axis=-1)
    )
    return out


def _delay_kernel(observed: FloatArray, sent: FloatArray) -> tuple[int, float]:
    """The shift (hours) and spread that best turn the population's engaged deliveries'
    hours (``sent``) into its engagement hours (``observed``), by total variation."""
    o = observed / max(float(observed.sum()), 1e-12)
    d = sent / max(float(sent.sum()), 1e-12)
    best = (np.inf, 0, 0.0)
    for shift in range(6):
        for width in (0.0, 0.1, 0.2, 0.3, 0.4):
            tv = float(np.abs(o - _spread(np.roll(d, shift), width)).sum())
            if tv < best[0]:
                best = (tv, shift, width)
    return best[1], best[2]


def fit_curves(
    evidence: Evidence, now_minute: int, config: CurveConfig, version: str
) -> CurveModel:
    """Fit every user's curve from ``evidence`` as of epoch minute ``now_minute``."""
    n = len(evidence.universal_ids)
    slot = (evidence.delivered_minute + 3 * 1440) % SLOTS_PER_WEEK
    how = slot // 60
    moh = slot % 60
    u = evidence.user_index
    # The long run is weighted by age relative to the user's newest evidence, so a
    # history that stopped months ago keeps its shape instead of fading into the prior;
    # "recent" is relative to now (old evidence is never recent).
    newest = _newest(evidence, n, now_minute)
    age_h = np.clip(newest[u] - evidence.delivered_minute, 0, None) / 60.0
    w_long = 0.5 ** (age_h / config.long_half_life_hours)
    now_age_h = np.clip(now_minute - evidence.delivered_minute, 0, None) / 60.0
    w_recent = 0.5 ** (now_age_h / config.half_life_hours)
    score = np.where(evidence.clicked, 1.0, np.where(evidence.opened, config.open_weight, 0.0))
    k = config.hour_kernel

    ex_raw = _bins(u * _HOURS + how, w_long, n, _HOURS)
    en_raw = _bins(u * _HOURS + how, w_long * score, n, _HOURS)
    # Activity signals by hour of day: they tell segments apart, they are not rates.
    a_hod = (evidence.activity_minute % 1440) // 60
    a_age = np.clip(newest[evidence.activity_index] - evidence.activity_minute, 0, None) / 60.0
    a_w = config.activity_weight * 0.5 ** (a_age / config.long_half_life_hours)
    activity = _bins(evidence.activity_index * 24 + a_hod, a_w, n, 24)
    act_strength = config.activity_prior
    # Opens and clicks at their own minutes: the hours someone reads mail, sent or not.
    if config.engaged_weight > 0 and evidence.engaged_index.size:
        engaged, share = _engaged_activity(evidence, newest, n, config)
        activity += config.engaged_weight * engaged
        # Activity profiles built on every engagement, not a few site visits, set the
        # hour lift with more weight (× 1 + 2·share: × 2 at the shipped world's share ≈ 0.5).
        act_strength *= 1.0 + 2.0 * share
    ex, en = _smooth_hours(ex_raw, k), _smooth_hours(en_raw, k)
    total_ex = max(float(ex.sum()), 1e-9)
    mean_rate = float(en.sum()) / total_ex if total_ex > 1e-9 else 0.0
    g_ex, g_en = ex.sum(axis=0), en.sum(axis=0)
    # With no evidence at all the prior is flat (every minute equally good), not zero.
    floor = mean_rate * config.unexplored_factor if mean_rate > 0 else 1.0
    gs = config.global_strength
    global_hour = (g_en + gs * floor) / (g_ex + gs)
    cs = config.cohort_strength
    s = config.user_strength

    # Cohorts: behaviour segments fitted by EM; a user's prior is its segments' mixture.
    if n:
        seg = fit_segments(en_raw, ex_raw, global_hour, k=config.segments, strength=cs,
                           kernel=k, seed=config.seed, activity=activity,
                           activity_pseudo=config.activity_pseudo,
                           act_strength=act_strength,
                           day_pool=config.day_pool)  # fmt: skip
        resp = seg.resp
        profiles, weights = seg.profiles, seg.weights
        cohort_hour = seg.prior()
        main = resp.argmax(axis=1)
        cohort_size = np.rint(resp.sum(axis=0)[main]).astype(np.int64)
    else:
        resp = np.zeros((0, 1))
        profiles, weights = np.full((1, _HOURS), 1.0), np.ones(1)
        cohort_hour = np.zeros((0, _HOURS))
        cohort_size = np.zeros(0, np.int64)
    day_ex, day_en = ex.reshape(n, 7, 24).sum(axis=2), en.reshape(n, 7, 24).sum(axis=2)
    hod_ex, hod_en = ex.reshape(n, 7, 24).sum(axis=1), en.reshape(n, 7, 24).sum(axis=1)

    # User long run: cohort (day, hour) shape re-weighted by the user's own day and hour rates.
    c_day = cohort_hour.reshape(n, 7, 24).mean(axis=2)
    c_hod = cohort_hour.reshape(n, 7, 24).mean(axis=1)
    c_all = cohort_hour.mean(axis=1, keepdims=True)
    u_day = (day_en + s * c_day) / (day_ex + s)
    u_hod = (hod_en + s * c_hod) / (hod_ex + s)
    u_all = (en.sum(axis=1, keepdims=True) + s * c_all) / (ex.sum(axis=1, keepdims=True) + s)
    ratio = (u_day / c_day.clip(1e-12))[:, :, None] * (u_hod / c_hod.clip(1e-12))[:, None, :]
    ratio /= (u_all / c_all.clip(1e-12))[:, :, None]
    long_hour = cohort_hour * ratio.reshape(n, _HOURS)

    # Recent evidence (half-life ``half_life_hours``) pulls the long run toward what just happened.
    r_ex = _smooth_hours(_bins(u * _HOURS + how, w_recent, n, _HOURS), k)
    r_en = _smooth_hours(_bins(u * _HOURS + how, w_recent * score, n, _HOURS), k)
    rs = config.recent_strength
    hour_rate = (r_en + rs * long_hour) / (r_ex + rs)

    # Minute of hour: a multiplier around 1, global ← cohort ← user, in engagement units.
    m_ex = _bins(u * 60 + moh, w_long, n, 60)
    m_en = _bins(u * 60 + moh, w_long * score, n, 60)
    ms = config.minute_strength
    g_min = (m_en.sum(axis=0) + ms) / (m_ex.sum(axis=0) * mean_rate + ms)
    g_min /= max(float(g_min.mean()), 1e-12)
    sm_ex, sm_en = resp.T @ m_ex, resp.T @ m_en
    s_rate = sm_en.sum(axis=1, keepdims=True) / sm_ex.sum(axis=1, keepdims=True).clip(1e-9)
    s_min = (sm_en + ms * g_min) / (sm_ex * s_rate + ms)
    c_min = resp @ s_min
    u_rate = m_en.sum(axis=1, keepdims=True) / m_ex.sum(axis=1, keepdims=True).clip(1e-9)
    u_min = (m_en + ms * c_min) / (m_ex * u_rate + ms)
    u_min /= u_min.mean(axis=1, keepdims=True).clip(1e-12)

    return CurveModel(
        config=config,
        universal_ids=list(evidence.universal_ids),
        hour_rate=hour_rate,
        minute_factor=u_min,
        exposures=ex.sum(axis=1) / float(np.sum(k)),
        engagement=en.sum(axis=1) / float(np.sum(k)),
        recent_exposures=r_ex.sum(axis=1) / float(np.sum(k)),
        cohort_size=cohort_size,
        global_hour_rate=global_hour,
        global_minute_factor=g_min,
        fitted_at_minute=now_minute,
        version=version,
        newest_minute=newest,
        segment_profiles=profiles,
        segment_weights=weights,
        segment_resp=resp,
    )
