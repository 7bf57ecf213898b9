"""Every figure of an experiment, with 95% intervals from a bootstrap over recipients.

Rates are per delivered message. An interval resamples *recipients* (with
replacement, the same resample for every arm, so lifts are paired): a
recipient's sends are not independent of each other, recipients are. A lift
is a ratio of two arms' expected clicks per delivered message; its interval
excludes "no lift" when it does not contain 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from sendflowr.experiment.design import ARMS
from sendflowr.experiment.loop import Run

__all__ = ["summarise"]

F64 = npt.NDArray[np.float64]


def _per_user(run: Run, users: int, values: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> F64:
    """(users, arms) sums of ``values`` over the rows in ``mask``."""
    out = np.zeros((users, len(ARMS)))
    s = run.design.schedule
    np.add.at(out, (s.user[mask], run.arm[mask]), np.asarray(values, dtype=np.float64)[mask])
    return out


def _ratio(weights: F64, num: F64, den: F64) -> F64:
    """(B, arms) ratios of weighted sums; NaN where the denominator is 0."""
    n, d = weights @ num, weights @ den
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d > 0, n / d, np.nan)


def _ci(samples: F64) -> list[float | None]:
    finite = samples[np.isfinite(samples)]
    if not len(finite):
        return [None, None]
    lo, hi = np.percentile(finite, [2.5, 97.5])
    return [round(float(lo), 6), round(float(hi), 6)]


def _point(num: F64, den: F64) -> F64:
    n, d = num.sum(axis=0), den.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d > 0, n / d, np.nan)


def _num(x: float) -> float | None:
    return round(float(x), 6) if np.isfinite(x) else None


def _lifts(point: F64, boot: F64, base: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a, name in enumerate(ARMS):
        if a == base:
            continue
        with np.errstate(invalid="ignore", divide="ignore"):
            samples = boot[:, a] / boot[:, base]
            ratio = point[a] / point[base]
        ci = _ci(samples)
        out[name] = {
            "ratio": _num(ratio),
            "ci95": ci,
            "excludes_no_lift": ci[0] is not None
            and ci[1] is not None
            and (ci[0] > 1.0 or ci[1] < 1.0),
        }
    return out


def _block(run: Run, users: int, rows: npt.NDArray[np.bool_], weights: F64) -> dict[str, Any]:
    """Arms, lifts and counts of the sends in ``rows``."""
    delivered = run.fired & run.delivered & rows
    den = _per_user(run, users, np.ones(len(rows)), delivered)
    metrics = {
        "expected_clicks_per_delivered": run.expected_click,
        "clicks_per_delivered": run.clicked,
        "opens_per_delivered": run.opened,
        "expected_opens_per_delivered": run.expected_open,
    }
    points: dict[str, F64] = {}
    boots: dict[str, F64] = {}
    for key, values in metrics.items():
        num = _per_user(run, users, values, delivered)
        points[key] = _point(num, den)
        boots[key] = _ratio(weights, num, den)
    arms: dict[str, Any] = {}
    for a, name in enumerate(ARMS):
        mine = rows & (run.arm == a)
        fired = mine & run.fired
        arms[name] = {
            "expected_clicks_per_delivered": _num(points["expected_clicks_per_delivered"][a]),
            "ci95": _ci(boots["expected_clicks_per_delivered"][:, a]),
            "clicks_per_delivered": _num(points["clicks_per_delivered"][a]),
            "clicks_ci95": _ci(boots["clicks_per_delivered"][:, a]),
            "opens_per_delivered": _num(points["opens_per_delivered"][a]),
            "opens_ci95": _ci(boots["opens_per_delivered"][:, a]),
            "expected_opens_per_delivered": _num(points["expected_opens_per_delivered"][a]),
            "scheduled": int(mine.sum()),
            "sends": int(fired.sum()),
            "cancelled": int((mine & run.cancelled).sum()),
            "delivered": int((fired & run.delivered).sum()),
            "expected_clicks": round(float(run.expected_click[fired].sum()), 3),
            "clicks": int(run.clicked[fired].sum()),
            "opens": int(run.opened[fired].sum()),
            "suppressed_sends": int((fired & run.suppressed).sum()),
            "sends_within_30_min_after_hot_path": int((fired & run.after_hot_path).sum()),
        }
    exp_point = points["expected_clicks_per_delivered"]
    exp_boot = boots["expected_clicks_per_delivered"]
    oracle = ARMS.index("oracle")
    share = {
        name: {
            "ratio": _num(exp_point[a] / exp_point[oracle]),
            "ci95": _ci(exp_boot[:, a] / exp_boot[:, oracle]),
        }
        for a, name in enumerate(ARMS)
        if a != oracle
    }
    return {
        "arms": arms,
        "lift_vs_fixed": _lifts(exp_point, exp_boot, ARMS.index("fixed")),
        "lift_vs_hourly": _lifts(exp_point, exp_boot, ARMS.index("hourly")),
        "share_of_oracle": share,
    }


def _groups(labels: Sequence[str], run: Run) -> dict[str, npt.NDArray[np.bool_]]:
    users = run.design.schedule.user
    lab = np.array(labels)
    return {g: lab[users] == g for g in sorted(set(labels))}


def summarise(run: Run, *, resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """The experiment's figures as a JSON-ready dict (see the module docstring)."""
    design = run.design
    users = len(design.truths)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xB007]))
    weights = rng.multinomial(users, np.full(users, 1.0 / users), size=resamples).astype(float)
    everything = np.ones(len(design.schedule), dtype=bool)
    out = _block(run, users, everything, weights)
    personas = [t.persona for t in design.truths]
    out["per_persona"] = {
        name: {"users": personas.count(name), **_block(run, users, rows, weights)}
        for name, rows in _groups(personas, run).items()
    }
    zones = [getattr(t, "timezone", None) for t in design.truths]
    if any(z is not None for z in zones):
        labels = [str(z or "unknown") for z in zones]
        out["per_timezone"] = {
            name: {"users": labels.count(name), **_block(run, users, rows, weights)}
            for name, rows in _groups(labels, run).items()
        }
    out["bootstrap"] = {"resamples": resamples, "unit": "recipient"}
    return out
