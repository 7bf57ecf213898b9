"""Timing decisions for one recipient or a whole audience, vectorised.

For a window of candidate delivery minutes (default: the next 7 days) the
engine takes every recipient's base curve, applies the context modifiers,
drops minutes whose trigger would lie in the past, and picks the best minute.
``trigger = target + aim − predicted latency(target)``: ``aim`` (30 s) points
the delivery at the middle of the target minute, so latency noise either way
keeps it inside.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from sendflowr.errors import SuppressedError, ValidationError
from sendflowr.events import CHANNELS
from sendflowr.timing.audience import (
    COLD_SHARE,
    Best,
    Capacity,
    Placement,
    Unit,
    Values,
    cold_cap,
    dense_best,
    spread,
)
from sendflowr.timing.confidence import ConfidenceScorer
from sendflowr.timing.context import (
    Context,
    Weights,
    apply_modifiers,
    batch_weights,
    modifier_span,
    suppression_block,
)
from sendflowr.timing.curves import CurveModel
from sendflowr.timing.explore import DEFAULT_EXPLORE_SHARE, draws, exploration_choices
from sendflowr.timing.grid import (
    SLOTS_PER_WEEK,
    epoch_minute,
    from_epoch_minute,
    hour_of_day,
    minute_of_hour,
    slot_label,
    slots_of_minutes,
    weekday,
)
from sendflowr.timing.latency import DEFAULT_PROVIDER, LatencyInputs, LatencyPredictor
from sendflowr.timing.runs import Runs
from sendflowr.timing.zones import local_slots, quiet_mask

__all__ = ["AIM_SECONDS", "Decision", "DecisionRequest", "Skipped", "decide", "paused_gc"]

AIM_SECONDS: Final = 30.0
DEFAULT_WINDOW: Final = timedelta(days=7)
MAX_WINDOW: Final = timedelta(days=28)
_CELLS_PER_CHUNK: Final = 4_000_000
#: the with-context chunks: small enough to stay in the CPU caches across their passes
_CONTEXT_CELLS_PER_CHUNK: Final = 1_000_000


@dataclass(frozen=True)
class DecisionRequest:
    """One decision call: recipients plus the send's window and circumstances."""

    universal_ids: list[str]
    send_after: datetime | None = None
    send_before: datetime | None = None
    channel: str = "email"
    provider: str | None = None
    campaign_type: str | None = None
    payload_size_bytes: int | None = None
    queue_depth: int | None = None
    #: Sends-per-minute limits the audience is spread within (None = only the cold spread).
    capacity: Capacity | None = None
    #: Share of decisions that explore (0 = none) and the seed choosing them.
    explore_share: float = DEFAULT_EXPLORE_SHARE
    explore_seed: int = 0
    #: Most of a cold audience on one minute.
    cold_share: float = COLD_SHARE
    #: Sends already placed per epoch minute by other parts of the same audience (a batch
    #: decided in several calls, e.g. one per clock); updated in place. None = no sharing.
    capacity_used: dict[int, int] | None = None
    #: the clock the recipients' curves are read on (their local week; issue #15)
    timezone: str = "UTC"
    #: local quiet hours (start, end, zone): no delivery minute inside them
    quiet_hours: tuple[time, time, str] | None = None


@dataclass
class Decision:
    """A decision (docs/engine.md "Decisions") and the explanation stored with it."""

    decision_id: str
    universal_id: str
    target_minute_utc: datetime
    trigger_timestamp_utc: datetime
    latency_estimate_seconds: float
    confidence_score: float
    model_version: str
    created_at_utc: datetime
    debug: dict[str, Any]
    explanation: dict[str, Any] = field(repr=False)

    @property
    def explanation_ref(self) -> str:
        """Where the stored explanation is served."""
        return f"/explanations/{self.decision_id}"


@dataclass(frozen=True)
class Skipped:
    """A recipient for whom no minute of the window is allowed (batch form of a 409)."""

    universal_id: str
    reason: str
    until: datetime | None


def _window(req: DecisionRequest, now: datetime) -> tuple[int, int]:
    if req.channel not in CHANNELS:
        raise ValidationError("channel", f"unknown channel {req.channel!r} (one of {CHANNELS})")
    if not 0.0 <= req.explore_share <= 1.0:
        raise ValidationError("explore_share", "must be between 0 and 1")
    if not 0.0 < req.cold_share <= 1.0:
        raise ValidationError("cold_share", "must be above 0 and at most 1")
    start = max(req.send_after or now, now)
    end = req.send_before or (start + DEFAULT_WINDOW)
    if req.send_after and req.send_before and req.send_before <= req.send_after:
        raise ValidationError("send_before", "must be later than send_after")
    if end <= now:
        raise ValidationError("send_before", "the window has already closed")
    if end - start > MAX_WINDOW:
        raise ValidationError("send_before", f"window longer than {MAX_WINDOW.days} days")
    first = -(-int(start.timestamp()) // 60)
    last = -(-int(end.timestamp()) // 60)
    if last <= first:
        raise ValidationError("send_before", "window shorter than one minute")
    return first, last


def slot_latencies(latency: LatencyPredictor, req: DecisionRequest) -> npt.NDArray[np.float64]:
    """Predicted latency (s) of a delivery targeted at each of the 10,080 week slots."""
    slots = np.arange(SLOTS_PER_WEEK)
    n = SLOTS_PER_WEEK
    provider = _provider(req)
    inputs = LatencyInputs(
        channel=np.full(n, req.channel),
        provider=np.full(n, provider),
        hour=hour_of_day(slots),
        minute=minute_of_hour(slots),
        weekday=weekday(slots),
        payload_bytes=np.full(
            n, np.nan if req.payload_size_bytes is None else req.payload_size_bytes
        ),
        queue_depth=np.full(n, np.nan if req.queue_depth is None else float(req.queue_depth)),
    )
    return latency.predict(inputs)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a batch builds its many small objects.

    A 10,000-recipient batch allocates ~10⁵ dicts and floats, none of them cyclic;
    each collection they trigger walks every live object of the process (a third of
    the batch's CPU time). Nested and concurrent pauses are counted: the collector
    runs again once the last one ends (if it was running before the first).
    """
    global _pauses, _resume
    with _pause_lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()


_pause_lock = threading.Lock()
_pauses = 0
_resume = False


def decide(
    req: DecisionRequest,
    curves: CurveModel,
    latency: LatencyPredictor,
    contexts: dict[str, Context],
    now: datetime,
    *,
    slot_latency: npt.NDArray[np.float64] | None = None,
    raise_suppressed: bool = False,
) -> list[Decision | Skipped]:
    """Decide every recipient of ``req`` at ``now``; suppressed ones become ``Skipped``.

    Recipients without live context are decided once per distinct curve (all cold
    recipients share one), in chunks of (recipients × candidate minutes) arrays;
    recipients with context in chunks too, their modifiers applied on the span
    they touch (``_context_picks``: the decisions of one-by-one evaluation). A seeded
    share explores (``explore``), then the audience is spread within its
    capacity (``audience``). A window with no allowed minute is a ``Skipped``
    (or SuppressedError with ``raise_suppressed``); a window with some is
    decided on its best allowed minute and flagged ``debug.suppressed``.
    """
    with paused_gc():
        return _decide(req, curves, latency, contexts, now, slot_latency, raise_suppressed)


def _decide(
    req: DecisionRequest,
    curves: CurveModel,
    latency: LatencyPredictor,
    contexts: dict[str, Context],
    now: datetime,
    slot_latency: npt.NDArray[np.float64] | None,
    raise_suppressed: bool,
) -> list[Decision | Skipped]:
    first, last = _window(req, now)
    cand = np.arange(first, last, dtype=np.int64)
    slots = slots_of_minutes(cand)
    lat_slot = slot_latencies(latency, req) if slot_latency is None else slot_latency
    feasible = cand * 60.0 + AIM_SECONDS - lat_slot[slots] >= now.timestamp()
    if not feasible.any():
        raise ValidationError("send_before", "the window closes before a message could arrive")
    if req.quiet_hours is not None:
        feasible &= quiet_mask(cand, req.quiet_hours[2], req.quiet_hours[0], req.quiet_hours[1])
        if not feasible.any():
            raise ValidationError("quiet_hours", "every minute of the window is in quiet hours")
    cand, slots = cand[feasible], slots[feasible]
    lat = lat_slot[slots]
    if req.timezone != "UTC":  # latency runs on UTC; the curves on the recipient's week
        slots = local_slots(cand, req.timezone)
    version = f"{curves.version}+{latency.version}"
    scorer = ConfidenceScorer(curves, slots, epoch_minute(now))
    batch = _Batch(cand, slots, lat, curves, latency, version, now, req, scorer, Runs.of(slots))
    ids = req.universal_ids
    rows = curves.rows(ids)
    weight = curves.evidence_weight(rows)
    live = np.fromiter((not _quiet(contexts.get(u)) for u in ids), dtype=bool, count=len(ids))
    picks: dict[int, _Pick] = {}
    answer: dict[int, Decision | Skipped] = {}

    # Recipients without context: one answer per distinct curve row.
    unique, inverse = np.unique(rows[~live], return_inverse=True)
    u_best = np.empty(unique.shape[0], np.int64)
    u_top = np.empty(unique.shape[0])
    u_sharp = np.empty(unique.shape[0])
    chunk = max(1, _CELLS_PER_CHUNK // (len(batch.runs) + 2 * 60))
    for lo in range(0, unique.shape[0], chunk):
        best, top, mean = batch.runs.best(*curves.factors(unique[lo : lo + chunk]))
        u_best[lo : lo + chunk] = best
        u_top[lo : lo + chunk] = top
        u_sharp[lo : lo + chunk] = 1.0 - mean / np.where(top > 0, top, 1.0)
    plain_at = np.flatnonzero(~live)
    group_of = dict(zip(plain_at.tolist(), inverse.tolist(), strict=True))
    shared: dict[int, _Pick] = {}  # one pick per distinct curve, shared by its recipients
    best_of, value_of, sharp_of = u_best.tolist(), u_top.tolist(), u_sharp.tolist()
    weight_of, row_of = weight.tolist(), rows.tolist()
    for i, j in group_of.items():
        if j in shared:
            picks[i] = shared[j]
            continue
        b, value = best_of[j], value_of[j]
        picks[i] = shared[j] = _Pick(
            best=b,
            peak=b,
            sharpness=sharp_of[j],
            base_best=value,
            final_best=value,
            base_peak=value,
            weights={},
            evidence=weight_of[i],
            cold=row_of[i] < 0,
            ctx=None,
        )

    # Recipients with context: dense windows in chunks, modifiers on their span only.
    at_live = np.flatnonzero(live)
    live_ctx = [contexts[ids[i]] for i in at_live.tolist()]
    for i, ctx, (pick, any_left) in zip(
        at_live.tolist(),
        live_ctx,
        _context_picks(batch, rows[at_live], weight[at_live], live_ctx),
        strict=True,
    ):
        if ctx.suppressions:
            blocked = suppression_block(ctx.suppressions, int(cand[0]), last)
            if blocked is not None or not any_left:
                s, until = blocked or (ctx.suppressions[0], None)
                until_dt = from_epoch_minute(until) if until is not None else None
                if raise_suppressed:
                    raise SuppressedError(s.reason, until_dt)
                answer[i] = Skipped(ids[i], s.reason, until_dt)
                continue
        picks[i] = pick

    explored = _explore(batch, picks, rows)
    units, members, unit_values, unit_best = _units(batch, picks, explored, group_of, unique, rows)
    limit = req.capacity.limit(_provider(req)) if req.capacity is not None else None
    used = req.capacity_used
    room = None
    if limit is not None and used:
        taken = np.fromiter((used.get(int(m), 0) for m in cand), np.int64, cand.shape[0])
        room = limit - taken
    placements = spread(units, unit_values, cand.shape[0], limit, room, unit_best)
    if limit is not None and used is not None:
        for placed in placements:
            for p in placed:
                minute = int(cand[p.index])
                used[minute] = used.get(minute, 0) + p.count
    full: list[tuple[int, _Pick]] = []  # recipients decided in full
    copies: list[tuple[int, int]] = []  # (recipient, index in full): the same decision, renamed
    for unit, who, placed in zip(units, members, placements, strict=True):
        at = iter(who)
        for p in placed:
            first = -1
            for _ in range(p.count):
                i = next(at)
                if first >= 0:  # same curve, same minute: the same decision
                    copies.append((i, first))
                    continue
                pick = explored.get(i, picks[i])
                if p.index != unit.preferred:
                    pick = _moved(batch, pick, p, unit, limit, int(rows[i]))
                first = len(full)
                full.append((i, pick))
    names = _decision_ids(now, len(full) + len(copies))
    made = _decisions(batch, full, ids, rows, names)
    for (i, _), d in zip(full, made, strict=True):
        answer[i] = d
    for (i, k), name in zip(copies, names[len(full) :], strict=True):
        answer[i] = replace(made[k], decision_id=name, universal_id=ids[i])
    return [answer[i] for i in range(len(ids))]


def _quiet(ctx: Context | None) -> bool:
    return ctx is None or ctx.empty


def _provider(req: DecisionRequest) -> str:
    return req.provider or DEFAULT_PROVIDER.get(req.channel, "")


FloatArray = npt.NDArray[np.float64]
#: (base curve, P_final, each modifier's ω) of one recipient over a window.
_Evaluated = tuple[FloatArray, FloatArray, dict[str, FloatArray]]


@dataclass(frozen=True)
class _Batch:
    """What every decision of one call shares: the window's candidates and the models."""

    cand: npt.NDArray[np.int64]
    slots: npt.NDArray[np.int64]
    lat: npt.NDArray[np.float64]
    curves: CurveModel
    latency: LatencyPredictor
    version: str
    now: datetime
    req: DecisionRequest
    scorer: ConfidenceScorer
    runs: Runs
    #: epoch minute → (its UTC datetime, ISO text); week slot → label (shared by the batch)
    _times: dict[int, tuple[datetime, str]] = field(default_factory=dict)
    _labels: dict[int, str] = field(default_factory=dict)

    def at(self, minute: int) -> datetime:
        """The UTC datetime of epoch ``minute``."""
        return self._time(minute)[0]

    def iso(self, minute: int) -> str:
        """The ISO text of epoch ``minute``."""
        return self._time(minute)[1]

    def _time(self, minute: int) -> tuple[datetime, str]:
        hit = self._times.get(minute)
        if hit is None:
            at = from_epoch_minute(minute)
            hit = self._times[minute] = (at, at.isoformat())
        return hit

    def label(self, slot: int) -> str:
        """``slot_label`` of a week slot."""
        hit = self._labels.get(slot)
        if hit is None:
            hit = self._labels[slot] = slot_label(slot)
        return hit


@dataclass(frozen=True)
class _Pick:
    """A chosen candidate and what the decision explains about it (the ``_decision`` inputs)."""

    best: int  # the chosen candidate (index into the window)
    peak: int  # the base curve's best candidate
    sharpness: float
    base_best: float
    final_best: float
    base_peak: float
    weights: dict[str, float]
    evidence: float
    cold: bool
    ctx: Context | None
    eligible_share: float = 1.0
    exploration: dict[str, Any] | None = None
    spread: dict[str, Any] | None = None


def _span(batch: _Batch, ctx: Context) -> tuple[int, int]:
    """The candidates ``[lo, hi)`` the modifiers of ``ctx`` can touch (``modifier_span``)."""
    span = modifier_span(ctx)
    if span is None:
        return 0, 0
    lo, hi = np.searchsorted(batch.cand, span).tolist()
    return int(lo), int(hi)


def _evaluate(batch: _Batch, row: int, ctx: Context) -> _Evaluated:
    """(base curve, P_final, each modifier's ω) of one recipient over the window."""
    base = batch.curves.window(np.asarray([row], dtype=np.int64), batch.slots)[0]
    lo, hi = _span(batch, ctx)
    part, omegas = apply_modifiers(base[lo:hi], batch.cand[lo:hi], ctx)
    final = base.copy()
    final[lo:hi] = part
    weights: dict[str, FloatArray] = {}
    for name, omega in omegas.items():  # ω is 0 outside the span
        weights[name] = np.zeros(base.shape[0])
        weights[name][lo:hi] = omega
    return base, final, weights


def _context_picks(
    batch: _Batch, rows: npt.NDArray[np.int64], evidence: FloatArray, ctxs: list[Context]
) -> Iterator[tuple[_Pick, bool]]:
    """Each recipient's pick with live context, and whether any minute keeps a value > 0.

    The same picks as evaluating each recipient over the whole window (``_evaluate``)
    and taking its best allowed minute: the base curves come as (chunk × window)
    float32 arrays, the modifiers of the whole chunk are applied kind by kind on the
    span their recipients touch (``batch_weights``; P_final equals the base elsewhere),
    and the argmax, maximum and mean run on the chunk.
    """
    n = batch.cand.shape[0]
    chunk = max(1, _CONTEXT_CELLS_PER_CHUNK // max(n, 1))
    for lo in range(0, len(ctxs), chunk):
        part, who = rows[lo : lo + chunk], ctxs[lo : lo + chunk]
        factors = batch.curves.factors(part)
        final = batch.runs.values(*factors)
        r = np.arange(part.shape[0])
        peak = final.argmax(axis=1)
        base_peak = final[r, peak].tolist()
        kinds = batch_weights(who, batch.cand)
        _apply(final, kinds)
        best = final.argmax(axis=1)
        top = final[r, best]
        clean = _positive(final, factors, kinds).tolist()
        # Row-major rows: each row's mean is summed as that row alone would be (pairwise).
        mean = final.mean(axis=1).tolist()
        base_best = batch.runs.value_at(*factors, best).tolist()
        weights, eligible = _weights_at(kinds, best, n)
        top_of, best_of, peak_of = top.tolist(), best.tolist(), peak.tolist()
        evidence_of, cold_of = evidence[lo : lo + chunk].tolist(), (part < 0).tolist()
        for k, ctx in enumerate(who):
            value = top_of[k]
            if clean[k]:  # every value positive: the positive values' mean is the row's
                sharp = 1.0 - mean[k] / value
            else:
                positive = final[k][final[k] > 0]
                sharp = 1.0 - float(positive.mean()) / value if positive.size else 0.0
            pick = _Pick(
                best=best_of[k],
                peak=peak_of[k],
                sharpness=sharp,
                base_best=base_best[k] if weights[k] else value,
                final_best=value,
                base_peak=base_peak[k],
                weights=weights[k],
                evidence=evidence_of[k],
                cold=cold_of[k],
                ctx=ctx,
                eligible_share=eligible[k],
            )
            yield pick, clean[k] or bool(final[k].any())


def _apply(final: npt.NDArray[np.float32], kinds: list[Weights]) -> None:
    """``final *= 1 + ω`` kind by kind, in place: float32 after each, as ``apply_modifiers``."""
    for w in kinds:
        if w.rows.shape[0] == final.shape[0]:  # every row (ascending, distinct): no gather
            block = final[:, w.start : w.end]
            block[...] = block * (1.0 + w.omega)
        else:
            final[w.rows, w.start : w.end] = final[w.rows, w.start : w.end] * (1.0 + w.omega)


def _positive(
    final: npt.NDArray[np.float32],
    factors: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]],
    kinds: list[Weights],
) -> npt.NDArray[np.bool_]:
    """Whether each row of ``final`` is > 0 everywhere, reading only what may not be.

    A base curve ``hours × minutes + floor`` with no negative factor and a positive
    floor is ≥ its floor everywhere (float32 rounding is monotone); P_final equals it
    outside the modifiers' spans, so only those (and other rows in full) are read.
    """
    hours, minutes, floor = factors
    out: npt.NDArray[np.bool_] = (hours.min(axis=1) >= 0) & (minutes.min(axis=1) >= 0)
    out &= floor > 0
    for k in np.flatnonzero(~out).tolist():
        out[k] = final[k].min() > 0
    for w in kinds:
        if w.end > w.start:
            out[w.rows] &= final[w.rows, w.start : w.end].min(axis=1) > 0
    return out


def _weights_at(
    kinds: list[Weights], index: npt.NDArray[np.int64], n: int
) -> tuple[list[dict[str, float]], list[float]]:
    """Each row's ω at its candidate ``index``, by the kinds that apply to it (as
    ``apply_modifiers`` names them), and its eligible share of the ``n`` candidates."""
    weights: list[dict[str, float]] = [{} for _ in range(index.shape[0])]
    eligible = [1.0] * index.shape[0]
    for w in kinds:
        applies = np.flatnonzero(w.omega.any(axis=1))
        who = w.rows[applies]
        at = index[who] - w.start
        inside = (at >= 0) & (at < w.end - w.start)
        here = np.zeros(applies.shape[0])
        here[inside] = w.omega[applies[inside], at[inside]]
        for k, value in zip(who.tolist(), here.tolist(), strict=True):
            weights[k][w.name] = value
        if w.name == "circuit_breaker":
            left = (n - np.count_nonzero(w.omega[applies], axis=1)) / n
            for k, share in zip(who.tolist(), left.tolist(), strict=True):
                eligible[k] = share
    return weights, eligible


def _values(batch: _Batch, row: int, ctx: Context | None) -> npt.NDArray[np.float64]:
    """One recipient's values over the window: P_final with context, else the base curve."""
    if ctx is None or ctx.empty:
        out: npt.NDArray[np.float64] = batch.curves.window(
            np.asarray([row], dtype=np.int64), batch.slots
        )[0].astype(np.float64)
        return out
    return _evaluate(batch, row, ctx)[1].astype(np.float64)


def _explore(
    batch: _Batch, picks: dict[int, _Pick], rows: npt.NDArray[np.int64]
) -> dict[int, _Pick]:
    """The picks of the recipients drawn to explore, moved to their exploration minute."""
    req = batch.req
    if req.explore_share <= 0 or not picks:
        return {}
    salt = f"{batch.cand[0]}|{batch.cand[-1]}|{req.channel}|{req.campaign_type}"
    at = sorted(picks)
    drawn = draws([req.universal_ids[i] for i in at], req.explore_seed, salt)
    prior = batch.curves.window(np.asarray([-1], dtype=np.int64), batch.slots)[0]
    draw = drawn.tolist()
    chosen = [(i, d[1]) for i, d in zip(at, draw, strict=True) if d[0] < req.explore_share]
    live = [(i, where) for i, where in chosen if picks[i].ctx is not None]
    out = _explore_live(batch, picks, rows, live, prior)
    plain: dict[int, tuple[FloatArray, npt.NDArray[np.int64]]] = {}  # by curve row
    for i, where in chosen:
        pick, row = picks[i], int(rows[i])
        if pick.ctx is not None:
            continue
        if row not in plain:
            values = _values(batch, row, None)
            plain[row] = values, exploration_choices(values, prior)
        values, choices = plain[row]
        if not choices.size:
            continue
        index = int(choices[min(int(where * choices.size), choices.size - 1)])
        note = _exploration(batch, pick, values, index)
        out[i] = _at(batch, pick, index, row, float(values[index]), exploration=note)
    return out


def _explore_live(
    batch: _Batch,
    picks: dict[int, _Pick],
    rows: npt.NDArray[np.int64],
    chosen: list[tuple[int, float]],
    prior: FloatArray,
) -> dict[int, _Pick]:
    """The exploration picks of ``chosen`` (recipient, draw) with context, in chunks.

    What ``_values`` and ``_at`` give one by one: the windows of a chunk as in
    ``_context_picks``, the base value and weights read at each exploration minute.
    """
    n = batch.cand.shape[0]
    chunk = max(1, _CONTEXT_CELLS_PER_CHUNK // max(n, 1))
    out: dict[int, _Pick] = {}
    for lo in range(0, len(chosen), chunk):
        part = chosen[lo : lo + chunk]
        who = [cast(Context, picks[i].ctx) for i, _ in part]
        factors = batch.curves.factors(rows[[i for i, _ in part]])
        final = batch.runs.values(*factors)
        kinds = batch_weights(who, batch.cand)
        _apply(final, kinds)
        index = np.zeros(len(part), dtype=np.int64)
        notes: dict[int, dict[str, Any]] = {}
        for k, (i, where) in enumerate(part):
            values = final[k].astype(np.float64)
            choices = exploration_choices(values, prior)
            if choices.size:
                index[k] = choices[min(int(where * choices.size), choices.size - 1)]
                notes[k] = _exploration(batch, picks[i], values, int(index[k]))
        base = batch.runs.value_at(*factors, index).tolist()
        weights, _ = _weights_at(kinds, index, n)
        for k, note in notes.items():
            i, at = part[k][0], int(index[k])
            out[i] = replace(
                picks[i],
                best=at,
                base_best=base[k],
                final_best=float(final[k, at]),
                weights=weights[k],
                exploration=note,
            )
    return out


def _exploration(batch: _Batch, pick: _Pick, values: FloatArray, index: int) -> dict[str, Any]:
    """The explanation's note on ``pick`` explored at candidate ``index``."""
    return {
        "explored": True,
        "share": batch.req.explore_share,
        "greedy_target_utc": from_epoch_minute(int(batch.cand[pick.best])).isoformat(),
        "relative_expected_response": round(float(values[index] / values[pick.best]), 4),
    }


def _at(
    batch: _Batch,
    pick: _Pick,
    index: int,
    row: int,
    value: float | None = None,
    **notes: Any,
) -> _Pick:
    """``pick`` moved to candidate ``index`` (values and weights re-read there).

    ``value``: the recipient's curve at ``index`` when already known (no context).
    """
    if pick.ctx is None:
        if value is None:
            value = float(_values(batch, row, None)[index])
        return replace(pick, best=index, base_best=value, final_best=value, **notes)
    base, final, weights = _evaluate(batch, row, pick.ctx)
    at = {name: float(w[index]) for name, w in weights.items()}
    return replace(
        pick,
        best=index,
        base_best=float(base[index]),
        final_best=float(final[index]),
        weights=at,
        **notes,
    )


def _units(
    batch: _Batch,
    picks: dict[int, _Pick],
    explored: dict[int, _Pick],
    group_of: dict[int, int],
    unique: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int64],
) -> tuple[list[Unit], list[list[int]], Values, Best]:
    """Spread units: one per distinct plain curve (explorers apart), one per other recipient."""
    groups: dict[int, list[int]] = {}
    singles: list[int] = []
    for i in sorted(picks):
        if i in group_of and i not in explored:
            groups.setdefault(group_of[i], []).append(i)
        else:
            singles.append(i)
    units: list[Unit] = []
    members: list[list[int]] = []
    sources: list[tuple[int, Context | None]] = []
    for j, who in groups.items():
        cold = bool(unique[j] < 0)
        cap = cold_cap(len(who), batch.req.cold_share) if cold else None
        units.append(Unit(len(who), picks[who[0]].best, cap))
        members.append(who)
        sources.append((int(unique[j]), None))
    for i in singles:
        pick = explored.get(i, picks[i])
        units.append(Unit(1, pick.best))
        members.append([i])
        sources.append((int(rows[i]), pick.ctx))

    def values(which: list[int]) -> npt.NDArray[np.floating[Any]]:
        plain = [k for k, u in enumerate(which) if sources[u][1] is None]
        out = np.empty((len(which), batch.cand.shape[0]), dtype=np.float32)
        if plain:
            rows = np.asarray([sources[which[k]][0] for k in plain], dtype=np.int64)
            out[plain] = batch.curves.window(rows, batch.slots)
        for k, u in enumerate(which):
            row, ctx = sources[u]
            if ctx is not None:
                out[k] = _evaluate(batch, row, ctx)[1]
        return out

    dense = dense_best(units, values)

    def best(which: list[int], k: int) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
        # Plain curves from their factors (``runs``), the others over the whole window.
        plain = [n for n, u in enumerate(which) if sources[u][1] is None]
        other = [n for n, u in enumerate(which) if sources[u][1] is not None]
        k = min(k, batch.runs.size)
        cols = np.empty((len(which), k), dtype=np.int64)
        vals = np.empty((len(which), k))
        preferred = np.empty(len(which))
        if plain:
            rows = np.fromiter((sources[which[n]][0] for n in plain), np.int64, len(plain))
            at = np.fromiter((units[which[n]].preferred for n in plain), np.int64, len(plain))
            factors = batch.curves.factors(rows)
            cols[plain], vals[plain] = batch.runs.top(*factors, k)
            preferred[plain] = batch.runs.value_at(*factors, at)
        if other:
            cols[other], vals[other], preferred[other] = dense([which[n] for n in other], k)
        return cols, vals, preferred

    return units, members, values, best


def _moved(
    batch: _Batch,
    pick: _Pick,
    placed: Placement,
    unit: Unit,
    limit: int | None,
    row: int,
) -> _Pick:
    """``pick`` placed elsewhere by the audience spread, saying from where and at what cost."""
    note = {
        "moved": True,
        "relative_cost": round(placed.cost, 4),
        "preferred_utc": from_epoch_minute(int(batch.cand[unit.preferred])).isoformat(),
        "capacity_per_minute": limit,
        "unit_size": unit.size,
        "unit_per_minute_cap": unit.cap,
    }
    return _at(batch, pick, placed.index, row, value=placed.value, spread=note)


def _decision_ids(now: datetime, n: int) -> list[str]:
    """``n`` UUIDv7 decision ids at ``now`` (``events.uuid7``'s layout, one urandom call)."""
    noise = os.urandom(10 * n)
    head = (int(now.timestamp() * 1000) & ((1 << 48) - 1)) << 80 | 0x7 << 76 | 0b10 << 62
    out = []
    for k in range(0, 10 * n, 10):
        value = head | (int.from_bytes(noise[k : k + 2], "big") & 0x0FFF) << 64
        h = f"{value | int.from_bytes(noise[k + 2 : k + 10], 'big') & ((1 << 62) - 1):032x}"
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


def _decisions(
    batch: _Batch,
    full: list[tuple[int, _Pick]],
    ids: list[str],
    rows: npt.NDArray[np.int64],
    names: list[str],
) -> list[Decision]:
    """The decisions of ``(recipient, pick)`` pairs (named ``names``), confidences at once."""
    at = np.fromiter((i for i, _ in full), np.int64, len(full))
    best = np.fromiter((p.best for _, p in full), np.int64, len(full))
    scores = batch.scorer.batch(rows[at], batch.slots[best])
    return [
        _decision(batch, pick, ids[i], conf, name)
        for (i, pick), conf, name in zip(full, scores, names, strict=False)
    ]


def _decision(
    batch: _Batch, pick: _Pick, uid: str, conf: tuple[float, dict[str, float]], name: str
) -> Decision:
    cand, slots, now = batch.cand, batch.slots, batch.now
    best, peak, weights = pick.best, pick.peak, pick.weights
    sharpness, evidence, cold, ctx = pick.sharpness, pick.evidence, pick.cold, pick.ctx
    target = batch.at(int(cand[best]))
    latency_s = float(batch.lat[best])
    trigger = max(target + timedelta(seconds=AIM_SECONDS - latency_s), now)
    confidence = conf[0]
    applied = {k: round(w, 4) for k, w in weights.items()}
    suppressed = bool(ctx is not None and ctx.suppressions and "circuit_breaker" in weights)
    debug = {
        "base_curve_peak": {
            "slot": int(slots[peak]),
            "label": batch.label(int(slots[peak])),
            "at_utc": batch.iso(int(cand[peak])),
            "value": round(pick.base_peak, 6),
        },
        "applied_weights": applied,
        "suppressed": suppressed,
        "eligible_share": round(pick.eligible_share, 4),
        "exploration": pick.exploration is not None,
        "moved": pick.spread is not None,
        "move_cost": pick.spread["relative_cost"] if pick.spread is not None else 0.0,
    }
    explanation = {
        "target": {"slot": int(slots[best]), "label": batch.label(int(slots[best])),
                   "base_value": round(pick.base_best, 6),
                   "final_value": round(pick.final_best, 6)},
        "cold_start": cold,
        "curve": {"version": batch.curves.version, "evidence_engagements": round(evidence, 3),
                  "fallback": "global prior" if cold else "segment prior + own history"},
        "confidence": {**conf[1], "sharpness": round(sharpness, 4)},
        "latency": {"seconds": round(latency_s, 3), "model_version": batch.latency.version,
                    "aim_seconds": AIM_SECONDS},
        "exploration": pick.exploration or {"explored": False, "share": batch.req.explore_share},
        "spread": pick.spread or {"moved": False, "relative_cost": 0.0},
        "context": {
            "hot_paths": [from_epoch_minute(m).isoformat() for m in (ctx.hot_paths if ctx else [])],
            "recent_sends_24h": len(ctx.recent_sends) if ctx else 0,
            "suppressions": [
                {"reason": s.reason, "start": from_epoch_minute(s.start).isoformat(),
                 "end": from_epoch_minute(s.end).isoformat() if s.end is not None else None}
                for s in (ctx.suppressions if ctx else [])
            ],
            "eligible_share": round(pick.eligible_share, 4),
        },
    }  # fmt: skip
    return Decision(
        decision_id=name,
        universal_id=uid,
        target_minute_utc=target,
        trigger_timestamp_utc=trigger,
        latency_estimate_seconds=round(latency_s, 3),
        confidence_score=round(float(min(max(confidence, 0.0), 1.0)), 4),
        model_version=batch.version,
        created_at_utc=now,
        debug=debug,
        explanation=explanation,
    )


def now_minute(now: datetime) -> int:
    """Epoch minute of ``now`` (re-exported for callers of ``decide``)."""
    return epoch_minute(now)
