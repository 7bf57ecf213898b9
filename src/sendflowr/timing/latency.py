"""Delivery latency: a log-linear model trained on delivered events, and a heuristic.

``predicted latency = exp(x · β)`` where ``x`` are features of the *target*
minute and the send (channel, provider, hour, minute-of-hour class, weekend,
night, payload, queue depth). β is fitted by ridge least squares on
``log(latency_seconds)``, so the prediction is the conditional median — the
MAE-optimal point for lognormal delays. The artifact is versioned JSON with its
feature list; ``HeuristicLatency`` stands in when no artifact exists.

Latency never falls as a message grows or the queue deepens: payload and queue
enter only as cumulative tiers ("over 100 KB", "over 200 KB", "over 1,000
queued", …) and ``log(1 + queue)``, whose coefficients are fitted ≥ 0
(``MONOTONE_FEATURES``), and inputs beyond what training saw are clamped to the
largest value seen (``limits``) instead of being extrapolated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from sendflowr.timing.params import DEFAULT_PARAMS

__all__ = [
    "DEFAULT_PROVIDER",
    "MONOTONE_FEATURES",
    "HeuristicLatency",
    "LatencyInputs",
    "LatencyModel",
    "LatencyPredictor",
    "latest_artifact",
]

FloatArray = npt.NDArray[np.float64]
#: Provider assumed per channel when a request names none.
DEFAULT_PROVIDER: Final = {"email": "klaviyo", "sms": "twilio", "push": "onesignal"}
_RUSH: Final = (8, 9, 18, 19)
_PAYLOAD_TIERS_KB: Final = (100, 200)
_QUEUE_TIERS: Final = (1000, 2000, 5000)
#: Features whose coefficient is fitted ≥ 0, so latency is non-decreasing in payload and queue.
MONOTONE_FEATURES: Final = (
    *(f"payload_over_{kb}kb:email" for kb in _PAYLOAD_TIERS_KB),
    *(f"queue_over_{q}" for q in _QUEUE_TIERS),
    "log_queue",
)


@dataclass(frozen=True)
class LatencyInputs:
    """Column arrays describing sends: one entry per row (``queue_depth`` NaN = unknown)."""

    channel: npt.NDArray[np.str_]
    provider: npt.NDArray[np.str_]
    hour: npt.NDArray[np.int64]
    minute: npt.NDArray[np.int64]
    weekday: npt.NDArray[np.int64]
    payload_bytes: FloatArray
    queue_depth: FloatArray


class LatencyPredictor(Protocol):
    """Anything that predicts latency seconds for ``LatencyInputs``."""

    version: str

    def predict(self, x: LatencyInputs) -> FloatArray: ...


def _time_features(x: LatencyInputs) -> dict[str, FloatArray]:
    email = x.channel == "email"
    top = x.minute <= 2
    quarter = np.isin(x.minute, (15, 30, 45))
    rush = np.isin(x.hour, _RUSH)
    return {
        "minute_00_02:email": (top & email).astype(float),
        "minute_00_02:other": (top & ~email).astype(float),
        "minute_quarter": quarter.astype(float),
        "rush_hour:email": (rush & email).astype(float),
        "rush_hour:other": (rush & ~email).astype(float),
        "weekend": (x.weekday >= 5).astype(float),
        "night_00_05": (x.hour <= 5).astype(float),
    }


@dataclass
class LatencyModel:
    """A fitted log-linear latency model (see the module docstring)."""

    version: str
    features: list[str]
    coefficients: list[float]
    providers: list[str]
    caps: dict[str, float]
    queue_profile: dict[str, list[float]]
    metrics: dict[str, Any] = field(default_factory=dict)
    #: Largest ``payload_kb`` and ``queue`` seen in training; larger inputs are clamped to them.
    limits: dict[str, float] = field(default_factory=dict)

    def design(self, x: LatencyInputs) -> FloatArray:
        """The feature matrix of ``x`` in ``self.features`` order."""
        queue = np.minimum(self.fill_queue(x), self.limits.get("queue", np.inf))
        email = x.channel == "email"
        payload_kb = np.nan_to_num(x.payload_bytes, nan=0.0) / 1024.0
        payload_kb = np.minimum(payload_kb, self.limits.get("payload_kb", np.inf))
        cols: dict[str, FloatArray] = {"bias": np.ones(x.channel.shape[0])}
        for ch in ("sms", "push"):
            cols[f"channel={ch}"] = (x.channel == ch).astype(float)
        for p in self.providers:
            cols[f"provider={p}"] = (x.provider == p).astype(float)
        cols.update(_time_features(x))
        for kb in _PAYLOAD_TIERS_KB:
            cols[f"payload_over_{kb}kb:email"] = ((payload_kb > kb) & email).astype(float)
        for q in _QUEUE_TIERS:
            cols[f"queue_over_{q}"] = (queue > q).astype(float)
        cols["log_queue"] = np.log1p(queue)
        # Disjoint tiers of artifacts written before the monotone fit (loadable, not monotone).
        cols["payload_gt_200kb:email"] = cols["payload_over_200kb:email"]
        cols["payload_100_200kb:email"] = ((payload_kb > 100) & (payload_kb <= 200) & email) * 1.0
        cols["queue_gt_5000"] = cols["queue_over_5000"]
        cols["queue_2000_5000"] = ((queue > 2000) & (queue <= 5000)).astype(float)
        cols["queue_1000_2000"] = ((queue > 1000) & (queue <= 2000)).astype(float)
        return np.column_stack([cols[f] for f in self.features])

    def fill_queue(self, x: LatencyInputs) -> FloatArray:
        """Queue depths, with unknown ones taken from the learned (channel, hour, minute) median."""
        queue = np.asarray(x.queue_depth, dtype=np.float64).copy()
        missing = np.isnan(queue)
        if missing.any():
            for ch, table in self.queue_profile.items():
                rows = missing & (x.channel == ch)
                if rows.any():
                    queue[rows] = np.asarray(table)[x.hour[rows] * 60 + x.minute[rows]]
            queue[np.isnan(queue)] = 500.0
        return queue

    def predict(self, x: LatencyInputs) -> FloatArray:
        """Predicted latency seconds (conditional median), capped per channel."""
        pred = np.exp(self.design(x) @ np.asarray(self.coefficients))
        caps = np.asarray([self.caps.get(str(c), DEFAULT_PARAMS.cap(str(c))) for c in x.channel])
        out: FloatArray = np.minimum(pred, caps)
        return out

    @staticmethod
    def feature_names(providers: list[str]) -> list[str]:
        """The feature list for a model over ``providers``."""
        empty = np.zeros(0, dtype=np.int64)
        probe = LatencyInputs(
            np.zeros(0, dtype=str), np.zeros(0, dtype=str), empty, empty, empty,
            np.zeros(0), np.zeros(0),
        )  # fmt: skip
        return [
            "bias",
            "channel=sms",
            "channel=push",
            *[f"provider={p}" for p in providers],
            *_time_features(probe),
            *MONOTONE_FEATURES,
        ]

    def save(self, folder: Path) -> Path:
        """Write ``<folder>/<version>.json`` and point ``LATEST`` at it; return the file."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.version}.json"
        payload = {
            "version": self.version,
            "kind": "log-linear ridge on log(latency_seconds)",
            "features": self.features,
            "coefficients": self.coefficients,
            "providers": self.providers,
            "caps": self.caps,
            "queue_profile": self.queue_profile,
            "limits": self.limits,
            "metrics": self.metrics,
        }
        path.write_text(json.dumps(payload, indent=1))
        (folder / "LATEST").write_text(path.name + "\n")
        return path

    @classmethod
    def load(cls, path: Path) -> LatencyModel:
        """Read an artifact written by ``save``."""
        data = json.loads(path.read_text())
        return cls(
            version=data["version"],
            features=list(data["features"]),
            coefficients=[float(c) for c in data["coefficients"]],
            providers=list(data["providers"]),
            caps={k: float(v) for k, v in data["caps"].items()},
            queue_profile={k: list(v) for k, v in data["queue_profile"].items()},
            metrics=dict(data.get("metrics", {})),
            limits={k: float(v) for k, v in data.get("limits", {}).items()},
        )


def latest_artifact(folder: Path) -> Path | None:
    """The artifact ``LATEST`` in ``folder`` names, if any."""
    pointer = folder / "LATEST"
    if not pointer.is_file():
        return None
    path = folder / pointer.read_text().strip()
    return path if path.is_file() else None


class HeuristicLatency:
    """Rule-of-thumb latency when no trained model exists: channel medians × time multipliers."""

    version = "latency-heuristic-1"
    BASE_SECONDS: Final = {"email": 12.0, "sms": 1.8, "push": 1.2}

    def predict(self, x: LatencyInputs) -> FloatArray:
        """Heuristic latency seconds for each row."""
        base = np.asarray([self.BASE_SECONDS.get(str(c), 12.0) for c in x.channel])
        f = _time_features(x)
        mult = 1.0 + 3.5 * f["minute_00_02:email"] + 0.35 * f["minute_00_02:other"]
        mult *= 1.0 + 0.5 * f["minute_quarter"]
        mult *= 1.0 + 1.0 * f["rush_hour:email"] + 0.2 * f["rush_hour:other"]
        mult *= 1.0 - 0.3 * f["weekend"]
        mult *= 1.0 - 0.5 * f["night_00_05"]
        queue = np.nan_to_num(x.queue_depth, nan=0.0)
        mult *= np.where(queue > 5000, 2.1, np.where(queue > 2000, 1.5, 1.0))
        caps = np.asarray([DEFAULT_PARAMS.cap(str(c)) for c in x.channel])
        out: FloatArray = np.minimum(base * mult, caps)
        return out
