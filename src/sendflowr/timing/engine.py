"""The timing engine: curves (cached, refitted on demand), context, latency, explanations.

This is what the inference API calls; it holds no HTTP concerns. Curves are
fitted for every user at once from one evidence query (a full fit: the global
prior, the behaviour segments and every recipient's row) and cached for
``refresh_seconds``; then refreshed incrementally: only the recipients with new
evidence since the last fit are refitted, against the full fit's frozen prior and
segments, their rows patched into the model (new recipients appended). A full fit
happens again on demand and once ``full_fit_seconds`` have passed. Each decision
batch makes one context query.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.process.memory import release_freed_memory
from sendflowr.timing.context import raise_if_blocked
from sendflowr.timing.curves import CurveConfig, CurveModel, Evidence, fit_curves, refit_curves
from sendflowr.timing.decisions import Decision, DecisionRequest, Skipped, decide, slot_latencies
from sendflowr.timing.explanations import ExplanationStore
from sendflowr.timing.grid import epoch_minute, hourly_projection, slot_label
from sendflowr.timing.latency import (
    HeuristicLatency,
    LatencyModel,
    LatencyPredictor,
    latest_artifact,
)
from sendflowr.timing.sources import EventSource

__all__ = ["IncrementalSource", "TimingEngine", "load_latency"]


@runtime_checkable
class IncrementalSource(Protocol):
    """A source that can say who has new evidence (what an incremental refresh needs)."""

    def evidence(self, now_minute: int, universal_ids: Sequence[str] | None = None) -> Evidence:
        """All the evidence up to ``now_minute`` (the whole history, not only what is new)
        of these recipients; of every recipient when None."""
        ...

    def changed_since(self, watermark: int) -> tuple[list[str], int]:
        """Ids with evidence ingested after the opaque ``watermark`` (0 = everything),
        and the new watermark. NotImplementedError: this source cannot say (a full fit)."""
        ...


def load_latency(folder: Path) -> LatencyPredictor:
    """The latest trained latency model in ``folder``, else the heuristic."""
    path = latest_artifact(folder)
    return LatencyModel.load(path) if path is not None else HeuristicLatency()


@dataclass
class _Cached:
    model: CurveModel
    fitted_at: float  # last fit or refresh (epoch seconds)
    full_at: float  # last full fit
    watermark: int  # the source's watermark read before the evidence of the last fit


class TimingEngine:
    """Decides send times; see the package docstring for the pipeline."""

    def __init__(
        self,
        source: EventSource,
        explanations: ExplanationStore,
        latency: LatencyPredictor,
        *,
        config: CurveConfig | None = None,
        clock: Clock = SYSTEM_CLOCK,
        refresh_seconds: float = 300.0,
        latency_dir: Path | None = None,
        full_fit_seconds: float = 86_400.0,
    ) -> None:
        self.source = source
        self.explanations = explanations
        self.latency = latency
        self.config = config or CurveConfig()
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        #: an incremental refresh becomes a full fit once the last one is this old
        self.full_fit_seconds = full_fit_seconds
        self._cached: _Cached | None = None
        self._lock = threading.Lock()
        self._latency_cache: dict[tuple[Any, ...], Any] = {}
        self._latency_dir = latency_dir

    # --- curves ------------------------------------------------------------
    def curves(self, *, refresh: bool = False) -> CurveModel:
        """The fitted curve model: a full fit when none exists or when ``refresh``; when the
        cached one is older than ``refresh_seconds``, an incremental ``refresh()`` first."""
        now = self.clock.now()
        with self._lock:
            if self._cached is None or refresh:
                self._fit_full()
            elif now.timestamp() - self._cached.fitted_at > self.refresh_seconds:
                self._refresh_locked()
            assert self._cached is not None
            return self._cached.model

    def refresh(self, *, full: bool = False) -> int:
        """Refit the recipients with new evidence since the last fit; return how many.

        The first call (no model yet) and ``full`` make a full fit, which returns every
        fitted recipient. This is what the inference role's periodic refit calls.
        """
        with self._lock:
            if self._cached is None or full:
                return self._fit_full()
            return self._refresh_locked()

    def _fit_full(self) -> int:
        """Fit every recipient (caller holds the lock); return how many."""
        now = self.clock.now()
        minute = epoch_minute(now)
        watermark = 0
        if isinstance(self.source, IncrementalSource):
            # read before the evidence: what arrives during the fit is refitted next time
            try:
                _, watermark = self.source.changed_since(
                    self._cached.watermark if self._cached else 0
                )
            except NotImplementedError:  # a wrapper whose inner source cannot say
                watermark = 0
        evidence = self.source.evidence(minute)
        version = f"curves-{now.strftime('%Y%m%dT%H%M%SZ')}-n{len(evidence.universal_ids)}"
        model = fit_curves(evidence, minute, self.config, version)
        del evidence
        self._cached = _Cached(model, now.timestamp(), now.timestamp(), watermark)
        self._release_memory()
        if self._latency_dir is not None:
            self.latency = load_latency(self._latency_dir)
        return len(model.universal_ids)

    def _refresh_locked(self) -> int:
        """The incremental refresh (caller holds the lock): refit only the recipients the
        source reports with new evidence, against the last full fit's frozen prior and
        segments. A full fit when the source cannot say who changed or when the last
        full fit is older than ``full_fit_seconds``."""
        cached = self._cached
        now = self.clock.now()
        if (
            cached is None
            or not isinstance(self.source, IncrementalSource)
            or now.timestamp() - cached.full_at >= self.full_fit_seconds
        ):
            return self._fit_full()
        try:
            changed, watermark = self.source.changed_since(cached.watermark)
        except NotImplementedError:
            return self._fit_full()
        model, refitted = cached.model, 0
        if changed:
            minute = epoch_minute(now)
            evidence = self.source.evidence(minute, changed)
            stamp = now.strftime("%Y%m%dT%H%M%SZ")
            version = f"curves-{stamp}-n{len(model.universal_ids)}+{len(evidence.universal_ids)}"
            model = refit_curves(model, evidence, minute, version)
            refitted = len(evidence.universal_ids)
            del evidence
        self._cached = _Cached(model, now.timestamp(), cached.full_at, watermark)
        del cached, model  # the replaced model's arrays are freed here, before the release
        if refitted:
            self._release_memory()
        if self._latency_dir is not None:
            self.latency = load_latency(self._latency_dir)
        return refitted

    def _release_memory(self) -> None:
        """Hand what a fit freed (the evidence read's buffers, the fit's arrays) back to the
        system: the allocators would keep it (the store engine's for ~5 s, pyarrow's pool
        and the C heap until reused), and the process's resident memory would stay at the
        fit's high-water mark, not the model's size."""
        release = getattr(self.source, "release_memory", None)
        if release is not None:
            release()
        release_freed_memory()

    @property
    def fitted(self) -> CurveModel | None:
        """The cached curve model, if one was fitted (no I/O)."""
        return self._cached.model if self._cached else None

    # --- decisions ---------------------------------------------------------
    def decide(
        self, req: DecisionRequest, *, single: bool = False, inputs: dict[str, Any] | None = None
    ) -> list[Decision | Skipped]:
        """Decide every recipient of ``req`` and store each decision's explanation.

        With ``single`` a fully suppressed window raises SuppressedError (→ 409).
        """
        now = self.clock.now()
        model = self.curves()
        contexts = self.source.contexts(req.universal_ids, epoch_minute(now))
        key = (self.latency.version, req.channel, req.provider, req.payload_size_bytes,
               req.queue_depth)  # fmt: skip
        lat = self._latency_cache.get(key)
        if lat is None:
            lat = slot_latencies(self.latency, req)
            if len(self._latency_cache) > 256:
                self._latency_cache.clear()
            self._latency_cache[key] = lat
        out = decide(req, model, self.latency, contexts, now, slot_latency=lat,
                     raise_suppressed=single)  # fmt: skip
        decisions = [d for d in out if isinstance(d, Decision)]
        self.explanations.save(decisions, inputs or {})
        return out

    def check_window(self, universal_id: str, start: datetime, end: datetime) -> None:
        """Raise SuppressedError when ``[start, end)`` is entirely suppressed for the user."""
        ctx = self.source.contexts([universal_id], epoch_minute(self.clock.now())).get(universal_id)
        if ctx is not None:
            raise_if_blocked(ctx.suppressions, epoch_minute(start), epoch_minute(end))

    # --- features ----------------------------------------------------------
    def features(self, universal_id: str, *, refresh: bool = False) -> dict[str, Any]:
        """What the engine knows about one recipient: curve summary and live context."""
        model = self.curves(refresh=refresh)
        rows = model.rows([universal_id])
        curve = model.curves(rows)[0]
        hourly = hourly_projection(curve)
        top = np.argsort(-curve)[:5]
        ctx = self.source.contexts([universal_id], epoch_minute(self.clock.now())).get(universal_id)
        known = bool(rows[0] >= 0)
        r = int(rows[0])
        return {
            "universal_id": universal_id,
            "cold_start": not known,
            "curve_version": model.version,
            "exposures": round(float(model.exposures[r]), 3) if known else 0.0,
            "engagement": round(float(model.engagement[r]), 3) if known else 0.0,
            "recent_exposures": round(float(model.recent_exposures[r]), 3) if known else 0.0,
            "cohort_size": int(model.cohort_size[r]) if known else 0,
            "peak_slots": [{"slot": int(s), "label": slot_label(int(s))} for s in top],
            "hourly_profile": [round(float(v), 6) for v in hourly / max(hourly.sum(), 1e-12)],
            "best_hour_utc": int(np.argmax(hourly)),
            "hot_paths": len(ctx.hot_paths) if ctx else 0,
            "sends_last_24h": len(ctx.recent_sends) if ctx else 0,
            "suppressions": [
                {"reason": s.reason, "start_minute": s.start, "end_minute": s.end}
                for s in (ctx.suppressions if ctx else [])
            ],
        }

    def hourly(self, universal_id: str) -> tuple[list[float], bool, str]:
        """The legacy hourly STO view: P by hour of day (sums to 1), cold flag, version."""
        model = self.curves()
        rows = model.rows([universal_id])
        hourly = hourly_projection(model.curves(rows))[0]
        probs = hourly / max(float(hourly.sum()), 1e-12)
        return [float(p) for p in probs], bool(rows[0] < 0), model.version
