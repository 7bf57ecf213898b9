"""Timing engine and inference (docs/engine.md): minute-level, latency-aware, explainable decisions.

grid         the 10,080-slot week (slot 0 = Monday 00:00 UTC)
curves       response curves by delivery minute (recency, smoothing, cohort shrinkage)
context      modifiers P_final = P_base · Π(1 + ω): hot paths, fatigue, circuit breakers
latency      latency model (log-linear, trained) and heuristic; training in ``training``
decisions    vectorised decisions for one recipient or a whole audience
sources      the engine's inputs (ClickHouse), explanations: the decision store
engine       ties them together; api: the FastAPI app; role: ``serve --role inference``
"""

from sendflowr.timing.curves import CurveConfig, CurveModel, Evidence, fit_curves
from sendflowr.timing.decisions import Decision, DecisionRequest, Skipped, decide
from sendflowr.timing.engine import TimingEngine, load_latency

__all__ = [
    "CurveConfig",
    "CurveModel",
    "Decision",
    "DecisionRequest",
    "Evidence",
    "Skipped",
    "TimingEngine",
    "decide",
    "fit_curves",
    "load_latency",
]
