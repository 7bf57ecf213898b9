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
exposures than 168 independent cells); the day rates shrink toward the
segment's with a strength set per segment from how much its users' days
really differ (``segment_day_strengths``). The minute-of-hour factor is shrunk
the same way. Users with no history get the global curve and are flagged cold.

When people are around is read from their hot paths and from their opens and
clicks at their own minutes, beyond what the send times explain
(``_engaged_activity``): segments are told apart by it, and hours no campaign
sends in take their hour lift from it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypedDict, overload

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from sendflowr.timing.grid import SLOTS_PER_WEEK
from sendflowr.timing.segments import fit_segments, responsibilities, segment_profiles

__all__ = [
    "CurveConfig",
    "CurveModel",
    "Evidence",
    "RecipientIndex",
    "fit_curves",
    "pooled_profiles",
    "refit_curves",
    "segment_day_strengths",
]

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
    #: bounds of the strength (pseudo-exposures) that shrinks a user's day-of-week rates
    #: toward its segment's, set per segment by ``segment_day_strengths``; equal bounds fix it
    day_strength_bounds: tuple[float, float] = (20.0, 1000.0)
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
    day_pool: float = 2.0
    activity_pseudo: float = 0.1
    activity_prior: float = 3.0
    #: minutes of an hour whose factor is within this many standard errors of the best are
    #: told apart by no evidence: they share their mean, and each recipient breaks the tie
    #: its own way (a stable hash of its id), so a segment's users do not all bet on one
    #: noisy minute. 0 keeps every minute's own factor.
    minute_ties: float = 0.5


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


class RecipientIndex(Sequence[str]):
    """Recipient ids in a compact index: UTF-8 bytes in one sorted fixed-width array
    (≈ id length + 8 bytes per recipient, no Python object per id) and vectorised lookup.

    A read-only ``Sequence[str]`` in row order; ``rows`` finds many ids at once.
    """

    __slots__ = ("_order", "_pos", "_sorted")

    def __init__(self, universal_ids: Iterable[str] = ()) -> None:
        keys = _encode(list(universal_ids))
        order = np.argsort(keys, kind="stable").astype(np.int32)
        self._sorted = keys[order]
        self._order = order  # row of each sorted key
        self._pos = np.empty_like(order)  # sorted position of each row
        self._pos[order] = np.arange(order.shape[0], dtype=np.int32)

    def __len__(self) -> int:
        return int(self._order.shape[0])

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return bytes(self._sorted[self._pos[i]]).decode()

    def __iter__(self) -> Iterator[str]:
        return (bytes(k).decode() for k in self._sorted[self._pos])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and bool(self.rows([value])[0] >= 0)

    def rows(self, universal_ids: Sequence[str]) -> npt.NDArray[np.int64]:
        """Row of each id, −1 where it is not in the index."""
        if not len(universal_ids) or not len(self):
            return np.full(len(universal_ids), -1, dtype=np.int64)
        keys = _encode(list(universal_ids))
        at = np.searchsorted(self._sorted, keys).clip(0, len(self) - 1)
        found = self._sorted[at] == keys
        return np.where(found, self._order[at], -1).astype(np.int64)

    def extended(self, universal_ids: Sequence[str]) -> RecipientIndex:
        """A new index: these ids (absent from this one) appended as rows ``len(self)…``."""
        out = RecipientIndex()
        keys = np.concatenate([self._sorted[self._pos], _encode(list(universal_ids))])
        out._order = np.argsort(keys, kind="stable").astype(np.int32)
        out._sorted = keys[out._order]
        out._pos = np.empty_like(out._order)
        out._pos[out._order] = np.arange(out._order.shape[0], dtype=np.int32)
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays."""
        return int(self._sorted.nbytes + self._order.nbytes + self._pos.nbytes)


def _encode(universal_ids: list[str]) -> npt.NDArray[np.bytes_]:
    if not universal_ids:
        return np.zeros(0, dtype="S1")
    return np.array([u.encode() for u in universal_ids], dtype=np.bytes_)


@dataclass
class CurveModel:
    """Fitted curve factors: ``hour_rate`` (n, 168) × ``minute_factor`` (n, 60) per user.

    Rows are stored compactly (float32 factors, ids in a ``RecipientIndex``: about 1 KB
    per recipient); full curves are built on demand for the rows being decided
    (``curves``, ``window``, ``factors``). The ``segment_*`` and ``global_*`` fields are
    what a full fit learns from everyone; an incremental refit keeps them frozen and
    replaces rows (``patched``).
    """

    config: CurveConfig
    universal_ids: Sequence[str]
    hour_rate: npt.NDArray[np.floating[Any]]
    minute_factor: npt.NDArray[np.floating[Any]]
    exposures: npt.NDArray[np.floating[Any]]
    engagement: npt.NDArray[np.floating[Any]]
    recent_exposures: npt.NDArray[np.floating[Any]]
    cohort_size: npt.NDArray[np.integer[Any]]
    global_hour_rate: FloatArray
    global_minute_factor: FloatArray
    fitted_at_minute: int
    version: str
    #: each user's newest evidence (epoch minute); empty = all fresh (as of ``fitted_at_minute``)
    newest_minute: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    #: behaviour segments: hour-of-week rates (K, 168), shares (K,), each user's posterior (n, K)
    segment_profiles: FloatArray = field(default_factory=lambda: np.ones((1, _HOURS)))
    segment_weights: FloatArray = field(default_factory=lambda: np.ones(1))
    segment_resp: npt.NDArray[np.floating[Any]] = field(
        default_factory=lambda: np.zeros((0, 1), np.float32)
    )
    #: frozen for incremental refits: segments' activity by hour of day (K, 24) or empty,
    #: minute-of-hour factors (K, 60) and sizes (K,)
    segment_activity: FloatArray = field(default_factory=lambda: np.zeros((0, 24)))
    segment_minute: FloatArray = field(default_factory=lambda: np.ones((1, 60)))
    segment_sizes: FloatArray = field(default_factory=lambda: np.zeros(1))
    #: engagements per minute-of-hour bin behind each segment's minute factors (K,): their
    #: standard error (``CurveConfig.minute_ties``); empty = unknown (no tie spreading)
    segment_minute_evidence: FloatArray = field(default_factory=lambda: np.zeros(0))
    #: strength of each segment's day rates against its users' own (K,): see
    #: ``segment_day_strengths``; empty = ``CurveConfig.user_strength``
    segment_day_strength: FloatArray = field(default_factory=lambda: np.zeros(0))
    _split: tuple[Any, Any, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.universal_ids, RecipientIndex):
            self.universal_ids = RecipientIndex(self.universal_ids)
        self.hour_rate = np.asarray(self.hour_rate, dtype=np.float32)
        self.minute_factor = np.asarray(self.minute_factor, dtype=np.float32)
        self.exposures = np.asarray(self.exposures, dtype=np.float32)
        self.engagement = np.asarray(self.engagement, dtype=np.float32)
        self.recent_exposures = np.asarray(self.recent_exposures, dtype=np.float32)
        self.cohort_size = np.asarray(self.cohort_size, dtype=np.int32)
        self.segment_resp = np.asarray(self.segment_resp, dtype=np.float32)

    @property
    def index(self) -> RecipientIndex:
        """The recipients' ids (row order)."""
        assert isinstance(self.universal_ids, RecipientIndex)
        return self.universal_ids

    def rows(self, universal_ids: Sequence[str]) -> npt.NDArray[np.int64]:
        """Row of each id in this model, −1 for a cold (unknown) recipient."""
        return self.index.rows(universal_ids)

    def _factors64(self, rows: npt.NDArray[np.int64]) -> tuple[FloatArray, FloatArray]:
        known = rows >= 0
        hours = np.empty((rows.shape[0], _HOURS))
        minutes = np.empty((rows.shape[0], 60))
        hours[known] = self.hour_rate[rows[known]]
        minutes[known] = self.minute_factor[rows[known]]
        hours[~known] = self.global_hour_rate
        minutes[~known] = self.global_minute_factor
        return hours, minutes

    def curves(self, rows: npt.NDArray[np.int64]) -> FloatArray:
        """Base curves ``(len(rows), 10080)``; row −1 gets the global (cold-start) curve."""
        hours, minutes = self._factors64(rows)
        curve = hours[:, :, None] * minutes[:, None, :]
        out = curve.reshape(rows.shape[0], SLOTS_PER_WEEK)
        out += self.config.uniform_prior * out.mean(axis=1, keepdims=True)
        return out

    def factors(self, rows: npt.NDArray[np.int64]) -> tuple[F32Array, F32Array, F32Array]:
        """The rows' curves as float32 factors ``(hours (n, 168), minutes (n, 60), floor (n,))``.

        ``curve[s] = hours[:, s // 60] * minutes[:, s % 60] + floor`` (float32 arithmetic):
        what ``window`` evaluates. Row −1 gets the global (cold-start) factors.
        """
        if rows.shape[0] and bool((rows >= 0).all()):  # the stored float32 rows as they are
            h32, m32 = self.hour_rate[rows], self.minute_factor[rows]
            mean = h32.mean(axis=1, dtype=np.float64) * m32.mean(axis=1, dtype=np.float64)
            return h32, m32, (self.config.uniform_prior * mean).astype(np.float32)
        hours, minutes = self._factors64(rows)
        floor = self.config.uniform_prior * (hours.mean(axis=1) * minutes.mean(axis=1))
        return hours.astype(np.float32), minutes.astype(np.float32), floor.astype(np.float32)

    def window(self, rows: npt.NDArray[np.int64], slots: npt.NDArray[np.int64]) -> FloatArray:
        """Base curve values ``(len(rows), len(slots))`` at the given week slots only.

        Equal to ``curves(rows)[:, slots]`` without building the whole week.
        """
        # float32: half the memory traffic of the (recipients × minutes) arrays.
        h32, m32, floor = self.factors(rows)
        split = self._split  # a batch asks for one recipient at a time over the same slots
        if split is None or split[0] is not slots:
            split = self._split = (slots, slots // 60, slots % 60)
        out = h32[:, split[1]] * m32[:, split[2]]
        out += floor[:, None]
        return out  # type: ignore[return-value]

    def evidence_weight(self, rows: npt.NDArray[np.int64]) -> FloatArray:
        """Effective engaged messages behind each row's curve (0 for cold rows)."""
        out = np.zeros(rows.shape[0])
        known = rows >= 0
        out[known] = self.engagement[rows[known]]
        return out

    @property
    def nbytes(self) -> int:
        """Bytes held by the per-recipient arrays and the id index (the resident model)."""
        arrays = (self.hour_rate, self.minute_factor, self.exposures, self.engagement,
                  self.recent_exposures, self.cohort_size, self.newest_minute,
                  self.segment_resp)  # fmt: skip
        return sum(int(a.nbytes) for a in arrays) + self.index.nbytes

    def patched(self, fit: CurveModel, now_minute: int, version: str) -> CurveModel:
        """A new model: this one with ``fit``'s recipients (a refit of some, against this
        model's frozen segments) replacing their rows; new recipients are appended."""
        rows = self.rows(fit.index)
        new = rows < 0
        index = self.index.extended([u for u, n in zip(fit.index, new, strict=True) if n])
        rows[new] = len(self.index) + np.arange(int(new.sum()))
        size = len(index)

        def put(old: npt.NDArray[Any], values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            out = np.empty((size, *old.shape[1:]), dtype=old.dtype)
            out[: old.shape[0]] = old
            out[rows] = values
            return out

        newest = self.newest_minute
        if newest.shape[0] != len(self.index):  # "all fresh as of the fit"
            newest = np.full(len(self.index), self.fitted_at_minute, dtype=np.int64)
        return replace(
            self,
            universal_ids=index,
            hour_rate=put(self.hour_rate, fit.hour_rate),
            minute_factor=put(self.minute_factor, fit.minute_factor),
            exposures=put(self.exposures, fit.exposures),
            engagement=put(self.engagement, fit.engagement),
            recent_exposures=put(self.recent_exposures, fit.recent_exposures),
            cohort_size=put(self.cohort_size, fit.cohort_size),
            newest_minute=put(newest, fit.newest_minute),
            segment_resp=put(self.segment_resp, fit.segment_resp),
            fitted_at_minute=now_minute,
            version=version,
        )


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


@dataclass(frozen=True)
class _UserBins:
    """Each user's weighted evidence binned by hour of week / minute of hour / hour of day."""

    ex_raw: FloatArray  # (n, 168) long-run exposures
    en_raw: FloatArray  # (n, 168) long-run engagement
    r_ex_raw: FloatArray  # (n, 168) recent exposures
    r_en_raw: FloatArray  # (n, 168) recent engagement
    m_ex: FloatArray  # (n, 60)
    m_en: FloatArray  # (n, 60)
    activity: FloatArray  # (n, 24)
    newest: npt.NDArray[np.int64]  # (n,)
    keys: npt.NDArray[np.uint64]  # (n,) a stable hash of each user's id (minute tie-breaks)

    def block(self, start: int, stop: int) -> _UserBins:
        """Users ``start…stop−1`` (views, no copy)."""
        return _UserBins(*(getattr(self, f.name)[start:stop] for f in fields(self)))


def _user_bins(evidence: Evidence, now_minute: int, config: CurveConfig) -> tuple[_UserBins, float]:
    """The users' binned evidence, and the beyond-chance share of their engagement times
    (``_engaged_activity``; 0 when there are none)."""
    n = len(evidence.universal_ids)
    slot = (evidence.delivered_minute + 3 * 1440) % SLOTS_PER_WEEK
    u = evidence.user_index
    cell = u * _HOURS + slot // 60
    moh = u * 60 + slot % 60
    # The long run is weighted by age relative to the user's newest evidence, so a
    # history that stopped months ago keeps its shape instead of fading into the prior;
    # "recent" is relative to now (old evidence is never recent).
    newest = _newest(evidence, n, now_minute)
    age_h = np.clip(newest[u] - evidence.delivered_minute, 0, None) / 60.0
    w_long = 0.5 ** (age_h / config.long_half_life_hours)
    now_age_h = np.clip(now_minute - evidence.delivered_minute, 0, None) / 60.0
    w_recent = 0.5 ** (now_age_h / config.half_life_hours)
    score = np.where(evidence.clicked, 1.0, np.where(evidence.opened, config.open_weight, 0.0))
    # Activity signals by hour of day: they tell segments apart, they are not rates.
    a_hod = (evidence.activity_minute % 1440) // 60
    a_age = np.clip(newest[evidence.activity_index] - evidence.activity_minute, 0, None) / 60.0
    a_w = config.activity_weight * 0.5 ** (a_age / config.long_half_life_hours)
    activity = _bins(evidence.activity_index * 24 + a_hod, a_w, n, 24)
    share = 0.0
    # Opens and clicks at their own minutes: the hours someone reads mail, sent or not.
    if config.engaged_weight > 0 and evidence.engaged_index.size:
        engaged, share = _engaged_activity(evidence, newest, n, config)
        activity += config.engaged_weight * engaged
    return _UserBins(
        ex_raw=_bins(cell, w_long, n, _HOURS),
        en_raw=_bins(cell, w_long * score, n, _HOURS),
        r_ex_raw=_bins(cell, w_recent, n, _HOURS),
        r_en_raw=_bins(cell, w_recent * score, n, _HOURS),
        m_ex=_bins(moh, w_long, n, 60),
        m_en=_bins(moh, w_long * score, n, 60),
        activity=activity,
        newest=newest,
        keys=_keys(evidence.universal_ids),
    ), share


def _keys(universal_ids: Iterable[str]) -> npt.NDArray[np.uint64]:
    """CRC-32 of each id: the same recipient breaks minute ties the same way in every fit."""
    return np.fromiter((zlib.crc32(u.encode()) for u in universal_ids), dtype=np.uint64)


def _spread_ties(
    u_min: FloatArray, evidence: FloatArray, keys: npt.NDArray[np.uint64], z: float
) -> FloatArray:
    """Minutes within ``z`` standard errors of each row's best factor get their mean,
    nudged by a per-recipient hash (within ±0.05%) so ties break differently per user.

    ``evidence`` (n,) is the engagements per minute bin behind each row's factors; a
    factor's relative standard error is 1/√evidence. The tied group's mean keeps the
    row's total, so the curve's level is unchanged.
    """
    if z <= 0 or not u_min.shape[0]:
        return u_min
    se = 1.0 / np.sqrt(evidence.clip(1e-9))
    best = u_min.max(axis=1, keepdims=True)
    tied = u_min >= best * (1.0 - z * se[:, None])
    mean = (u_min * tied).sum(axis=1, keepdims=True) / tied.sum(axis=1, keepdims=True)
    # splitmix64's finaliser over (id hash, minute): every minute its own random rank per id.
    with np.errstate(over="ignore"):
        mixed = keys[:, None] * np.uint64(0x9E3779B97F4A7C15) + np.arange(
            1, 61, dtype=np.uint64
        ) * np.uint64(0xBF58476D1CE4E5B9)
        mixed ^= mixed >> np.uint64(31)
        mixed *= np.uint64(0x94D049BB133111EB)
        mixed ^= mixed >> np.uint64(29)
    # Distinct ranks, so no two tied minutes are equal even in float32 (1/60 of 1e-3 apart).
    rank = np.argsort(np.argsort(mixed, axis=1), axis=1)
    nudge = 1.0 + 1e-3 * (rank / 59.0 - 0.5)
    out: FloatArray = np.where(tied, mean * nudge, u_min)
    return out


#: users per block of the per-user stage (bounded working memory, cache-sized arrays)
_BLOCK = 8192


def _user_rows(
    b: _UserBins,
    resp: FloatArray,
    profiles: FloatArray,
    segment_minute: FloatArray,
    sizes: FloatArray,
    config: CurveConfig,
    minute_evidence: FloatArray,
    day_strength: FloatArray,
) -> dict[str, Any]:
    """``_rows_of`` block by block, straight into the model's compact arrays."""
    n = resp.shape[0]
    out: dict[str, Any] = {
        "hour_rate": np.empty((n, _HOURS), np.float32),
        "minute_factor": np.empty((n, 60), np.float32),
        "exposures": np.empty(n, np.float32),
        "engagement": np.empty(n, np.float32),
        "recent_exposures": np.empty(n, np.float32),
        "cohort_size": np.empty(n, np.int32),
        "newest_minute": np.asarray(b.newest, dtype=np.int64),
        "segment_resp": np.asarray(resp, dtype=np.float32),
    }
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        part = _rows_of(b.block(start, stop), resp[start:stop], profiles, segment_minute,
                        sizes, config, minute_evidence, day_strength)  # fmt: skip
        for key, values in part.items():
            out[key][start:stop] = values
    return out


def _rows_of(
    b: _UserBins,
    resp: FloatArray,
    profiles: FloatArray,
    segment_minute: FloatArray,
    sizes: FloatArray,
    config: CurveConfig,
    minute_evidence: FloatArray,
    day_strength: FloatArray,
) -> dict[str, Any]:
    """Each user's curve factors given the (frozen or just fitted) segments: the
    per-user half of the fit, the same for a full fit and an incremental refit."""
    n = resp.shape[0]
    k = config.hour_kernel
    s = config.user_strength
    ex, en = _smooth_hours(b.ex_raw, k), _smooth_hours(b.en_raw, k)
    cohort_hour = resp @ profiles
    day_ex, day_en = ex.reshape(n, 7, 24).sum(axis=2), en.reshape(n, 7, 24).sum(axis=2)
    hod_ex, hod_en = ex.reshape(n, 7, 24).sum(axis=1), en.reshape(n, 7, 24).sum(axis=1)

    # User long run: cohort (day, hour) shape re-weighted by the user's own day and hour rates.
    c_day = cohort_hour.reshape(n, 7, 24).mean(axis=2)
    c_hod = cohort_hour.reshape(n, 7, 24).mean(axis=1)
    c_all = cohort_hour.mean(axis=1, keepdims=True)
    main = resp.argmax(axis=1) if resp.shape[1] else np.zeros(n, np.int64)
    sd = day_strength[main][:, None] if day_strength.size == resp.shape[1] else s
    u_day = (day_en + sd * c_day) / (day_ex + sd)
    u_hod = (hod_en + s * c_hod) / (hod_ex + s)
    u_all = (en.sum(axis=1, keepdims=True) + s * c_all) / (ex.sum(axis=1, keepdims=True) + s)
    ratio = (u_day / c_day.clip(1e-12))[:, :, None] * (u_hod / c_hod.clip(1e-12))[:, None, :]
    ratio /= (u_all / c_all.clip(1e-12))[:, :, None]
    long_hour = cohort_hour * ratio.reshape(n, _HOURS)

    # Recent evidence (half-life ``half_life_hours``) pulls the long run toward what just happened.
    r_ex, r_en = _smooth_hours(b.r_ex_raw, k), _smooth_hours(b.r_en_raw, k)
    rs = config.recent_strength
    hour_rate = (r_en + rs * long_hour) / (r_ex + rs)

    # Minute of hour: a multiplier around 1, global ← cohort ← user, in engagement units.
    ms = config.minute_strength
    c_min = resp @ segment_minute
    u_rate = b.m_en.sum(axis=1, keepdims=True) / b.m_ex.sum(axis=1, keepdims=True).clip(1e-9)
    own = b.m_ex * u_rate
    u_min = (b.m_en + ms * c_min) / (own + ms)
    u_min /= u_min.mean(axis=1, keepdims=True).clip(1e-12)
    if minute_evidence.size == resp.shape[1] and config.minute_ties > 0:
        # A row's factor mixes its own evidence with its segments' (each with its own error).
        own_bin = own.mean(axis=1)
        w_own = own_bin / (own_bin + ms)
        var = (1 - w_own) ** 2 / (resp @ minute_evidence).clip(1e-9)
        var += w_own**2 / own_bin.clip(1e-9)
        u_min = _spread_ties(u_min, 1.0 / var.clip(1e-12), b.keys, config.minute_ties)
    return {
        "hour_rate": hour_rate,
        "minute_factor": u_min,
        "exposures": ex.sum(axis=1) / float(np.sum(k)),
        "engagement": en.sum(axis=1) / float(np.sum(k)),
        "recent_exposures": r_ex.sum(axis=1) / float(np.sum(k)),
        "cohort_size": np.rint(sizes[main]).astype(np.int64) if n else np.zeros(0, np.int64),
    }


#: user-day cells with evidence a segment needs before its day strength is estimated
_DAY_CELLS_MIN = 20


def segment_day_strengths(
    resp: FloatArray,
    day_ex: FloatArray,
    day_en: FloatArray,
    profiles: FloatArray,
    config: CurveConfig,
) -> FloatArray:
    """How strongly each segment's day-of-week rates hold its users' own (K,), in
    pseudo-exposures: empirical Bayes on the users whose main segment it is.

    A user's rate on a day (``day_en / day_ex``) differs from the segment's by sampling
    noise (variance ≈ c(1 − c) / exposures, c the segment's rate) plus whatever really
    sets the user apart (variance τ²). The strength that weighs the two is
    c(1 − c) / τ²: a segment whose users share their days (one persona) lets a user's
    forty-odd deliveries on a day move it little, so noise cannot carry a Sunday-only
    user to Saturday; a segment that mixes days (two personas sharing hours) leaves
    each user's days to its own evidence. Clipped to ``config.day_strength_bounds``;
    ``config.user_strength`` where a segment has too little evidence to tell."""
    k = resp.shape[1]
    low, high = config.day_strength_bounds
    if resp.shape[0] == 0 or k == 0:
        return np.full(k, config.user_strength)
    main = resp.argmax(axis=1)
    c = (resp @ profiles.reshape(k, 7, 24).mean(axis=2)).clip(1e-6, 1 - 1e-6)
    seen = day_ex > 1.0
    ex = day_ex.clip(1e-9)
    noise = np.where(seen, c * (1 - c), 0.0)
    spread = np.where(seen, (day_en / ex - c) ** 2, 0.0)
    sampling = np.where(seen, c * (1 - c) / ex, 0.0)

    def per_segment(values: FloatArray) -> FloatArray:
        return np.bincount(main, weights=values.sum(axis=1), minlength=k).astype(np.float64)

    cells = per_segment(seen.astype(np.float64))
    tau2 = (per_segment(spread) - per_segment(sampling)) / cells.clip(1)
    strength = per_segment(noise) / cells.clip(1) / tau2.clip(1e-9)
    strength = np.where(cells >= _DAY_CELLS_MIN, strength, config.user_strength)
    return np.asarray(strength.clip(low, high), dtype=np.float64)


def _one_blas_thread() -> threadpool_limits:
    """The fit's matrix products are thin (12 segments wide): split over two BLAS threads
    on a shared 2-core machine they wait on each other (an EM step at 20,000 recipients:
    40 ms on one thread, 90–270 ms on two)."""
    return threadpool_limits(limits=1, user_api="blas")


class _SegmentOptions(TypedDict):
    strength: float
    kernel: tuple[float, float, float]
    activity_pseudo: float
    act_strength: float
    day_pool: float


def _segment_options(config: CurveConfig, share: float) -> _SegmentOptions:
    """How segments are fitted (``fit_segments``, ``segment_profiles``) under ``config``,
    given the beyond-chance share of the users' engagement times (``_user_bins``)."""
    return _SegmentOptions(
        strength=config.cohort_strength,
        kernel=config.hour_kernel,
        activity_pseudo=config.activity_pseudo,
        # Activity profiles built on every engagement, not a few site visits, set the hour
        # lift with more weight (× 1 + 2·share: × 2 at the shipped world's share ≈ 0.5).
        act_strength=config.activity_prior * (1.0 + 2.0 * share),
        day_pool=config.day_pool,
    )


def pooled_profiles(
    evidence: Evidence, now_minute: int, config: CurveConfig, resp: FloatArray
) -> FloatArray:
    """Hour-of-week profiles (K, 168) of the segments ``resp`` (n, K) partitions
    ``evidence``'s users into, fitted as ``fit_curves`` fits its segments (same binned
    evidence, same settings) but on that partition instead of the EM's.

    With one segment per true persona (a generated audience's truths), they are what a
    perfect segmentation would decide on: the truth-pooled ceiling of
    ``bench/timing_ceiling.py``.
    """
    with _one_blas_thread():
        b, share = _user_bins(evidence, now_minute, config)
        profiles, _ = segment_profiles(
            resp, b.en_raw, b.ex_raw, activity=b.activity, **_segment_options(config, share)
        )
    return profiles


def fit_curves(
    evidence: Evidence, now_minute: int, config: CurveConfig, version: str
) -> CurveModel:
    """Fit every user's curve from ``evidence`` as of epoch minute ``now_minute``."""
    with _one_blas_thread():
        return _fit_curves(evidence, now_minute, config, version)


def _fit_curves(
    evidence: Evidence, now_minute: int, config: CurveConfig, version: str
) -> CurveModel:
    n = len(evidence.universal_ids)
    b, share = _user_bins(evidence, now_minute, config)
    k = config.hour_kernel
    ex, en = _smooth_hours(b.ex_raw, k), _smooth_hours(b.en_raw, k)
    total_ex = max(float(ex.sum()), 1e-9)
    mean_rate = float(en.sum()) / total_ex if total_ex > 1e-9 else 0.0
    g_ex, g_en = ex.sum(axis=0), en.sum(axis=0)
    day_ex, day_en = ex.reshape(n, 7, 24).sum(axis=2), en.reshape(n, 7, 24).sum(axis=2)
    del ex, en
    # With no evidence at all the prior is flat (every minute equally good), not zero.
    floor = mean_rate * config.unexplored_factor if mean_rate > 0 else 1.0
    gs = config.global_strength
    global_hour = (g_en + gs * floor) / (g_ex + gs)

    # Cohorts: behaviour segments fitted by EM; a user's prior is its segments' mixture.
    activity_profiles = np.zeros((0, 24))
    if n:
        options = _segment_options(config, share)
        seg = fit_segments(
            b.en_raw,
            b.ex_raw,
            global_hour,
            k=config.segments,
            seed=config.seed,
            activity=b.activity,
            **options,
        )
        resp, profiles, weights = seg.resp, seg.profiles, seg.weights
        if seg.activity is not None:
            activity_profiles = seg.activity
    else:
        resp = np.zeros((0, 1))
        profiles, weights = np.full((1, _HOURS), 1.0), np.ones(1)

    # Minute of hour: global, then each segment's (users' rows shrink toward their mixture).
    ms = config.minute_strength
    g_min = (b.m_en.sum(axis=0) + ms) / (b.m_ex.sum(axis=0) * mean_rate + ms)
    g_min /= max(float(g_min.mean()), 1e-12)
    sm_ex, sm_en = resp.T @ b.m_ex, resp.T @ b.m_en
    s_rate = sm_en.sum(axis=1, keepdims=True) / sm_ex.sum(axis=1, keepdims=True).clip(1e-9)
    s_min = (sm_en + ms * g_min) / (sm_ex * s_rate + ms)
    s_evidence = sm_en.sum(axis=1) / 60.0 + ms
    sizes = resp.sum(axis=0)
    s_day = segment_day_strengths(resp, day_ex, day_en, profiles, config)

    return CurveModel(
        config=config,
        universal_ids=evidence.universal_ids,
        global_hour_rate=global_hour,
        global_minute_factor=g_min,
        fitted_at_minute=now_minute,
        version=version,
        segment_profiles=profiles,
        segment_weights=weights,
        segment_activity=activity_profiles,
        segment_minute=s_min,
        segment_sizes=sizes,
        segment_minute_evidence=s_evidence,
        segment_day_strength=s_day,
        **_user_rows(b, resp, profiles, s_min, sizes, config, s_evidence, s_day),
    )


def refit_curves(
    model: CurveModel, evidence: Evidence, now_minute: int, version: str
) -> CurveModel:
    """Refit only ``evidence``'s users (all of each one's evidence) against ``model``'s
    frozen global prior and segments; a new model with their rows replaced (new users
    appended). Equal, row for row, to what a full fit gives them when the shared part
    did not change."""
    with _one_blas_thread():
        return _refit_curves(model, evidence, now_minute, version)


def _refit_curves(
    model: CurveModel, evidence: Evidence, now_minute: int, version: str
) -> CurveModel:
    config = model.config
    b, _ = _user_bins(evidence, now_minute, config)
    activity = b.activity if model.segment_activity.shape[0] else None
    acts = model.segment_activity if activity is not None else None
    resp = responsibilities(model.segment_profiles, model.segment_weights, b.en_raw, b.ex_raw,
                            activity, acts)  # fmt: skip
    fit = replace(
        model,
        universal_ids=RecipientIndex(evidence.universal_ids),
        **_user_rows(
            b,
            resp,
            model.segment_profiles,
            model.segment_minute,
            model.segment_sizes,
            config,
            model.segment_minute_evidence,
            model.segment_day_strength,
        ),  # fmt: skip
    )
    return model.patched(fit, now_minute, version)
