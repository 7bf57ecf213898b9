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
    """Decide every recipient of ``req`` at ``now``; suppressed ones become ``Skipped``."""
    first, last = _window(req, now)
    cand = np.arange(first, last, dtype=np.int64)
    slots = slots_of_minutes(cand)
    lat_slot = slot_latencies(latency, req) if slot_latency is None else slot_latency
    lat = lat_slot[slots]
    feasible = cand * 60.0 + AIM_SECONDS - lat >= now.timestamp()
    if not feasible.any():
        raise ValidationError("send_before", "the window closes before a message could arrive")
    rows = curves.rows(req.universal_ids)
    weight = curves.evidence_weight(rows)
    version = f"{curves.version}+{latency.version}"
    out: list[Decision | Skipped] = []
    chunk = max(1, _CELLS_PER_CHUNK // cand.shape[0])
    for lo in range(0, len(req.universal_ids), chunk):
        hi = min(lo + chunk, len(req.universal_ids))
        base = curves.curves(rows[lo:hi])[:, slots]
        base[:, ~feasible] = 0.0
        final = base.copy()
        weights: dict[int, dict[str, npt.NDArray[np.float64]]] = {}
        skipped: dict[int, Skipped] = {}
        for i in range(hi - lo):
            ctx = contexts.get(req.universal_ids[lo + i])
            if ctx is None or ctx.empty:
                continue
            final[i], weights[i] = apply_modifiers(base[i], cand, ctx)
            if ctx.suppressions:
                blocked = suppression_block(ctx.suppressions, int(cand[feasible][0]), last)
                if blocked is not None or not final[i].any():
                    s, until = blocked or (ctx.suppressions[0], None)
                    until_dt = from_epoch_minute(until) if until is not None else None
                    if raise_suppressed:
                        raise SuppressedError(s.reason, until_dt)
                    skipped[i] = Skipped(req.universal_ids[lo + i], s.reason, until_dt)
        best = final.argmax(axis=1)
        peak = base.argmax(axis=1)
        top = final[np.arange(hi - lo), best]
        positive = final > 0
        mean_pos = (final * positive).sum(axis=1) / positive.sum(axis=1).clip(1)
        sharpness = np.where(top > 0, 1.0 - mean_pos / np.where(top > 0, top, 1.0), 0.0)
        for i in range(hi - lo):
            if i in skipped:
                out.append(skipped[i])
                continue
            uid = req.universal_ids[lo + i]
            out.append(
                _decision(uid, int(best[i]), int(peak[i]), float(sharpness[i]), final[i], base[i],
                          weights.get(i, {}), cand, slots, lat, float(weight[lo + i]),
                          bool(rows[lo + i] < 0), curves, latency, version, now,
                          contexts.get(uid))
            )  # fmt: skip
    return out


def _decision(
    uid: str,
    best: int,
    peak: int,
    sharpness: float,
    final: npt.NDArray[np.float64],
    base: npt.NDArray[np.float64],
    weights: dict[str, npt.NDArray[np.float64]],
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
) -> Decision:
    target = from_epoch_minute(int(cand[best]))
    latency_s = float(lat[best])
    trigger = max(target + timedelta(seconds=AIM_SECONDS - latency_s), now)
    support = evidence / (evidence + 10.0)
    confidence = (0.1 * sharpness) if cold else support * (0.4 + 0.6 * sharpness)
    applied = {name: round(float(w[best]), 4) for name, w in weights.items()}
    debug = {
        "base_curve_peak": {
            "slot": int(slots[peak]),
            "label": slot_label(int(slots[peak])),
            "at_utc": from_epoch_minute(int(cand[peak])).isoformat(),
            "value": round(float(base[peak]), 6),
        },
        "applied_weights": applied,
        "suppressed": bool(ctx and ctx.suppressions and "circuit_breaker" in weights),
    }
    explanation = {
        "target": {"slot": int(slots[best]), "label": slot_label(int(slots[best])),
                   "base_value": round(float(base[best]), 6),
                   "final_value": round(float(final[best]), 6)},
        "cold_start": cold,
        "curve": {"version": curves.version, "evidence_engagements": round(evidence, 3),
                  "fallback": "global prior" if cold else "cohort prior + own history"},
        "confidence": {"evidence_support": round(support, 4), "sharpness": round(sharpness, 4)},
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
