"""Timing decisions for one recipient or a whole audience, vectorised.

For a window of candidate delivery minutes (default: the next 7 days) the
engine takes every recipient's base curve, applies the context modifiers,
drops minutes whose trigger would lie in the past, and picks the best minute.
``trigger = target + aim − predicted latency(target)``: ``aim`` (30 s) points
the delivery at the middle of the target minute, so latency noise either way
keeps it inside.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from sendflowr.errors import SuppressedError, ValidationError
from sendflowr.events import CHANNELS, uuid7
from sendflowr.timing.confidence import ConfidenceScorer
from sendflowr.timing.context import Context, apply_modifiers, suppression_block
from sendflowr.timing.curves import CurveModel
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

__all__ = ["AIM_SECONDS", "Decision", "DecisionRequest", "Skipped", "decide"]

AIM_SECONDS: Final = 30.0
DEFAULT_WINDOW: Final = timedelta(days=7)
MAX_WINDOW: Final = timedelta(days=28)
_CELLS_PER_CHUNK: Final = 4_000_000


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


@dataclass
class Decision:
    """A decision (SPEC §5 output) and the explanation stored with it."""

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
    provider = req.provider or DEFAULT_PROVIDER.get(req.channel, "")
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
    recipients with context get their modifiers applied one by one.
    """
    first, last = _window(req, now)
    cand = np.arange(first, last, dtype=np.int64)
    slots = slots_of_minutes(cand)
    lat_slot = slot_latencies(latency, req) if slot_latency is None else slot_latency
    feasible = cand * 60.0 + AIM_SECONDS - lat_slot[slots] >= now.timestamp()
    if not feasible.any():
        raise ValidationError("send_before", "the window closes before a message could arrive")
    cand, slots = cand[feasible], slots[feasible]
    lat = lat_slot[slots]
    ids = req.universal_ids
    rows = curves.rows(ids)
    weight = curves.evidence_weight(rows)
    version = f"{curves.version}+{latency.version}"
    live = np.fromiter((not _quiet(contexts.get(u)) for u in ids), dtype=bool, count=len(ids))

    # Recipients without context: one answer per distinct curve row.
    unique, inverse = np.unique(rows[~live], return_inverse=True)
    u_best = np.empty(unique.shape[0], np.int64)
    u_top = np.empty(unique.shape[0])
    u_sharp = np.empty(unique.shape[0])
    chunk = max(1, _CELLS_PER_CHUNK // cand.shape[0])
    for lo in range(0, unique.shape[0], chunk):
        values = curves.window(unique[lo : lo + chunk], slots)
        best = values.argmax(axis=1)
        top = values[np.arange(values.shape[0]), best]
        u_best[lo : lo + chunk] = best
        u_top[lo : lo + chunk] = top
        u_sharp[lo : lo + chunk] = 1.0 - values.mean(axis=1) / np.where(top > 0, top, 1.0)
    plain_at = np.flatnonzero(~live)
    answer: dict[int, Decision | Skipped] = {}
    scorer = ConfidenceScorer(curves, slots, epoch_minute(now))
    u_conf = scorer.batch(unique, slots[u_best])
    for i, j in zip(plain_at.tolist(), inverse.tolist(), strict=True):
        b = int(u_best[j])
        answer[i] = _decision(ids[i], b, b, float(u_sharp[j]), float(u_top[j]), float(u_top[j]),
                              float(u_top[j]), {}, cand, slots, lat, float(weight[i]),
                              bool(rows[i] < 0), curves, latency, version, now, None,
                              u_conf[j])  # fmt: skip

    # Recipients with context: modifiers, suppression, one by one.
    for i in np.flatnonzero(live).tolist():
        ctx = contexts[ids[i]]
        base = curves.window(rows[i : i + 1], slots)[0]
        final, weights = apply_modifiers(base, cand, ctx)
        if ctx.suppressions:
            blocked = suppression_block(ctx.suppressions, int(cand[0]), last)
            if blocked is not None or not final.any():
                s, until = blocked or (ctx.suppressions[0], None)
                until_dt = from_epoch_minute(until) if until is not None else None
                if raise_suppressed:
                    raise SuppressedError(s.reason, until_dt)
                answer[i] = Skipped(ids[i], s.reason, until_dt)
                continue
        best, peak = int(final.argmax()), int(base.argmax())
        positive = final[final > 0]
        sharp = 1.0 - float(positive.mean()) / float(final[best]) if positive.size else 0.0
        at_best = {name: float(w[best]) for name, w in weights.items()}
        answer[i] = _decision(ids[i], best, peak, sharp, float(base[best]), float(final[best]),
                              float(base[peak]), at_best, cand, slots, lat, float(weight[i]),
                              bool(rows[i] < 0), curves, latency, version, now, ctx,
                              scorer.score(int(rows[i]), int(slots[best])))  # fmt: skip
    return [answer[i] for i in range(len(ids))]


def _quiet(ctx: Context | None) -> bool:
    return ctx is None or ctx.empty


def _decision(
    uid: str,
    best: int,
    peak: int,
    sharpness: float,
    base_best: float,
    final_best: float,
    base_peak: float,
    weights: dict[str, float],
    cand: npt.NDArray[np.int64],
    slots: npt.NDArray[np.int64],
    lat: npt.NDArray[np.float64],
    evidence: float,
    cold: bool,
    curves: CurveModel,
    latency: LatencyPredictor,
    version: str,
    now: datetime,
    ctx: Context | None,
    conf: tuple[float, dict[str, float]],
) -> Decision:
    target = from_epoch_minute(int(cand[best]))
    latency_s = float(lat[best])
    trigger = max(target + timedelta(seconds=AIM_SECONDS - latency_s), now)
    confidence = conf[0]
    applied = {name: round(w, 4) for name, w in weights.items()}
    debug = {
        "base_curve_peak": {
            "slot": int(slots[peak]),
            "label": slot_label(int(slots[peak])),
            "at_utc": from_epoch_minute(int(cand[peak])).isoformat(),
            "value": round(base_peak, 6),
        },
        "applied_weights": applied,
        "suppressed": bool(ctx is not None and ctx.suppressions and "circuit_breaker" in weights),
    }
    explanation = {
        "target": {"slot": int(slots[best]), "label": slot_label(int(slots[best])),
                   "base_value": round(base_best, 6), "final_value": round(final_best, 6)},
        "cold_start": cold,
        "curve": {"version": curves.version, "evidence_engagements": round(evidence, 3),
                  "fallback": "global prior" if cold else "segment prior + own history"},
        "confidence": {**conf[1], "sharpness": round(sharpness, 4)},
        "latency": {"seconds": round(latency_s, 3), "model_version": latency.version,
                    "aim_seconds": AIM_SECONDS},
        "context": {
            "hot_paths": [from_epoch_minute(m).isoformat() for m in (ctx.hot_paths if ctx else [])],
            "recent_sends_24h": len(ctx.recent_sends) if ctx else 0,
            "suppressions": [
                {"reason": s.reason, "start": from_epoch_minute(s.start).isoformat(),
                 "end": from_epoch_minute(s.end).isoformat() if s.end is not None else None}
                for s in (ctx.suppressions if ctx else [])
            ],
        },
    }  # fmt: skip
    return Decision(
        decision_id=uuid7(now),
        universal_id=uid,
        target_minute_utc=target,
        trigger_timestamp_utc=trigger,
        latency_estimate_seconds=round(latency_s, 3),
        confidence_score=round(float(min(max(confidence, 0.0), 1.0)), 4),
        model_version=version,
        created_at_utc=now,
        debug=debug,
        explanation=explanation,
    )


def now_minute(now: datetime) -> int:
    """Epoch minute of ``now`` (re-exported for callers of ``decide``)."""
    return epoch_minute(now)
