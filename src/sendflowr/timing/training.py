"""Training the latency model on stored delivered events, with a held-out evaluation.

The split is by time: the last ``holdout`` share of sends (by send time) is
held out, so the figures say how the model does on the future. The report
compares the model, the heuristic and a constant 300 s by mean absolute error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import pandas as pd

from sendflowr.clock import SYSTEM_CLOCK
from sendflowr.errors import ValidationError
from sendflowr.store.access import Queryable
from sendflowr.store.schema import EVENTS_TABLE, quote_identifier
from sendflowr.timing.latency import (
    MONOTONE_FEATURES,
    HeuristicLatency,
    LatencyInputs,
    LatencyModel,
)

__all__ = [
    "CONSTANT_SECONDS",
    "LatencyReport",
    "fit_latency",
    "inputs_from_frame",
    "load_deliveries",
]

CONSTANT_SECONDS: Final = 300.0
_MIN_ROWS: Final = 50
_TIME_COLUMNS: Final = ("send_time", "timestamp")

_QUERY: Final = """
SELECT channel, esp AS provider, send_time, timestamp,
       payload_size_bytes, queue_depth_estimate, latency_seconds
FROM {table}
WHERE event_type = 'delivered' AND latency_seconds IS NOT NULL AND latency_seconds >= 0
"""


@dataclass(frozen=True)
class LatencyReport:
    """Held-out mean absolute errors (seconds) and the sizes they come from."""

    train_rows: int
    test_rows: int
    model_mae: float
    heuristic_mae: float
    constant_mae: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the artifact)."""
        return dict(self.__dict__)


def load_deliveries(store: Queryable, database: str) -> pd.DataFrame:
    """Every delivered event with a latency, as a DataFrame (``store``: the store or serve's).

    The embedded store answers datetimes; serve's admin API answers ISO-8601 text
    (``isoformat`` drops the fraction when it is zero, so one column mixes two
    shapes). Both become timezone-aware UTC timestamps here.
    """
    table = f"{quote_identifier(database)}.{EVENTS_TABLE}"
    result = store.query(_QUERY.replace("{table}", table))
    frame = pd.DataFrame(result.rows, columns=result.columns)
    for column in _TIME_COLUMNS:
        frame[column] = _utc(frame[column])
    return frame


def _utc(values: pd.Series) -> pd.Series:
    """Timestamps or ISO-8601 strings (any mix of fractions and offsets) as aware UTC."""
    return pd.to_datetime(values, utc=True, format="ISO8601")


def inputs_from_frame(frame: pd.DataFrame) -> LatencyInputs:
    """LatencyInputs from delivered rows (time features of the send time)."""
    sent = _utc(frame["send_time"])
    fallback = _utc(frame["timestamp"]) - pd.to_timedelta(
        frame["latency_seconds"].astype(float), unit="s"
    )
    sent = sent.fillna(fallback)
    return LatencyInputs(
        channel=frame["channel"].astype(str).to_numpy().astype(str),
        provider=frame["provider"].astype(str).to_numpy().astype(str),
        hour=np.asarray(sent.dt.hour, dtype=np.int64),
        minute=np.asarray(sent.dt.minute, dtype=np.int64),
        weekday=np.asarray(sent.dt.day_of_week, dtype=np.int64),
        payload_bytes=pd.to_numeric(frame["payload_size_bytes"]).to_numpy(
            dtype=float, na_value=np.nan
        ),
        queue_depth=pd.to_numeric(frame["queue_depth_estimate"]).to_numpy(
            dtype=float, na_value=np.nan
        ),
    )


def _subset(x: LatencyInputs, rows: np.ndarray[Any, Any]) -> LatencyInputs:
    return LatencyInputs(*(getattr(x, f)[rows] for f in LatencyInputs.__dataclass_fields__))


def _queue_profile(x: LatencyInputs) -> dict[str, list[float]]:
    profile: dict[str, list[float]] = {}
    for ch in sorted(set(x.channel.tolist())):
        rows = (x.channel == ch) & ~np.isnan(x.queue_depth)
        if not rows.any():
            continue
        hour, minute = x.hour[rows], x.minute[rows]
        frame = pd.DataFrame({"k": hour * 60 + minute, "m": minute, "q": x.queue_depth[rows]})
        # Minute-of-hour medians everywhere, then (hour, minute) medians where there is data.
        by_minute = frame.groupby("m")["q"].median()
        per_minute = np.full(60, float(np.median(x.queue_depth[rows])))
        per_minute[by_minute.index.to_numpy()] = by_minute.to_numpy()
        table = np.tile(per_minute, 24)
        cells = frame.groupby("k")["q"].agg(["median", "size"])
        cells = cells[cells["size"] >= 3]
        table[cells.index.to_numpy()] = cells["median"].to_numpy()
        profile[ch] = [round(float(v), 1) for v in table]
    return profile


def fit_latency(
    frame: pd.DataFrame, *, holdout: float = 0.2, ridge: float = 1e-2, now: datetime | None = None
) -> tuple[LatencyModel, LatencyReport]:
    """Fit on the earlier sends, evaluate on the last ``holdout`` share, refit on all."""
    if len(frame) < _MIN_ROWS:
        raise ValidationError("delivered events", f"need at least {_MIN_ROWS}, found {len(frame)}")
    frame = frame.assign(send_time=_utc(frame["send_time"]), timestamp=_utc(frame["timestamp"]))
    frame = frame.sort_values("send_time", kind="stable").reset_index(drop=True)
    x_all = inputs_from_frame(frame)
    y_all = frame["latency_seconds"].astype(float).to_numpy()
    cut = int(len(frame) * (1.0 - holdout))
    train, test = np.arange(cut), np.arange(cut, len(frame))
    model = _fit(_subset(x_all, train), y_all[train], ridge, "candidate")
    x_test, y_test = _subset(x_all, test), y_all[test]
    report = LatencyReport(
        train_rows=len(train),
        test_rows=len(test),
        model_mae=float(np.mean(np.abs(model.predict(x_test) - y_test))),
        heuristic_mae=float(np.mean(np.abs(HeuristicLatency().predict(x_test) - y_test))),
        constant_mae=float(np.mean(np.abs(CONSTANT_SECONDS - y_test))),
    )
    stamp = (now or SYSTEM_CLOCK.now()).strftime("%Y%m%dT%H%M%SZ")
    final = _fit(x_all, y_all, ridge, "pending")
    digest = hashlib.sha256(np.asarray(final.coefficients).tobytes()).hexdigest()[:8]
    final.version = f"latency-{stamp}-{digest}"
    final.metrics = report.as_dict()
    return final, report


def _fit(x: LatencyInputs, y: np.ndarray[Any, Any], ridge: float, version: str) -> LatencyModel:
    providers = sorted(set(x.provider.tolist()) - {""})
    caps = {str(ch): float(y[x.channel == ch].max()) for ch in sorted(set(x.channel.tolist()))}
    email = x.channel == "email"
    payload_kb = np.nan_to_num(x.payload_bytes[email], nan=0.0) / 1024.0
    queue = x.queue_depth[~np.isnan(x.queue_depth)]
    model = LatencyModel(
        version=version,
        features=LatencyModel.feature_names(providers),
        coefficients=[],
        providers=providers,
        caps=caps,
        queue_profile=_queue_profile(x),
        limits={
            "payload_kb": float(payload_kb.max()) if payload_kb.size else 0.0,
            "queue": float(queue.max()) if queue.size else 0.0,
        },
    )
    nonneg = np.isin(model.features, MONOTONE_FEATURES)
    target = np.log(np.clip(y, 0.05, None))
    model.coefficients = [float(c) for c in _ridge(model.design(x), target, ridge, nonneg)]
    return model


def _ridge(
    design: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    ridge: float,
    nonneg: np.ndarray[Any, Any],
) -> np.ndarray[Any, Any]:
    """Ridge least squares with the ``nonneg`` coefficients held ≥ 0.

    Active set: solve, pin every constrained coefficient that came out negative
    at 0, solve again without them, until none is negative (at most one round
    per constrained feature).
    """
    free = np.ones(design.shape[1], dtype=bool)
    while True:
        cols = np.flatnonzero(free)
        sub = design[:, cols]
        beta = np.linalg.solve(sub.T @ sub + ridge * np.eye(cols.size), sub.T @ target)
        coef = np.zeros(design.shape[1])
        coef[cols] = beta
        negative = nonneg & free & (coef < 0)
        if not negative.any():
            return coef
        free &= ~negative
