"""Audience spread: capacities hold, cold audiences never pile onto one minute, little is lost."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import numpy as np
import pytest

from sendflowr.errors import ValidationError
from sendflowr.timing.audience import Capacity, Unit, cold_cap, spread
from sendflowr.timing.context import Context, Suppression
from sendflowr.timing.curves import CurveConfig, CurveModel, fit_curves
from sendflowr.timing.decisions import Decision, DecisionRequest, decide
from sendflowr.timing.grid import epoch_minute, slots_of_minutes
from sendflowr.timing.runs import Runs
from tests.unit.timing.synthetic import START, history
from tests.unit.timing.test_decisions import FixedLatency

NOW = START + timedelta(weeks=6, hours=1)
COLD = [f"cold{i:05d}" for i in range(10_000)]


@pytest.fixture(scope="module")
def model() -> CurveModel:
    # 350 known users, 100 of whom share one peak hour (they collide under a capacity).
    # Minute ties are not spread here, so those 100 share one minute as well: the
    # capacity, not the ties, must spread them (CurveConfig.minute_ties).
    peaks = {f"m{i}": (8,) for i in range(100)} | {f"e{i}": (19,) for i in range(125)}
    peaks |= {f"n{i}": (12, 13) for i in range(125)}
    evidence, now = history(peaks, weeks=6)
    return fit_curves(evidence, now, CurveConfig(segments=4, minute_ties=0.0), "test")


def _decide(model: CurveModel, ids: list[str], **kw: object) -> list[Decision]:
    out = decide(DecisionRequest(ids, **kw), model, FixedLatency(30.0), {}, NOW)  # type: ignore[arg-type]
    assert all(isinstance(d, Decision) for d in out)
    return out  # type: ignore[return-value]


def _per_minute(decisions: list[Decision]) -> Counter[object]:
    return Counter(d.target_minute_utc for d in decisions)


def _value(model: CurveModel, decisions: list[Decision]) -> float:
    """Sum of each recipient's own curve at its target minute (its expected response)."""
    rows = model.rows([d.universal_id for d in decisions])
    slots = slots_of_minutes([epoch_minute(d.target_minute_utc) for d in decisions])
    return float(sum(model.window(rows[k : k + 1], slots[k : k + 1])[0, 0]
                     for k in range(len(decisions))))  # fmt: skip


def test_ten_thousand_cold_within_200_per_minute(model: CurveModel) -> None:
    out = _decide(model, COLD, capacity=Capacity(per_minute=200))
    load = _per_minute(out)
    assert max(load.values()) <= 200
    assert sum(load.values()) == 10_000
    moved = [d for d in out if d.debug["moved"]]
    assert moved and all(d.explanation["spread"]["relative_cost"] >= 0 for d in moved)
    assert all(d.debug["move_cost"] == d.explanation["spread"]["relative_cost"] for d in out)
    stay = [d for d in out if not d.debug["moved"]]
    assert all(d.explanation["spread"]["relative_cost"] == 0 for d in stay)
    # Spread over the prior's best minutes: nobody loses more than a fifth of the best value.
    assert max(d.explanation["spread"]["relative_cost"] for d in moved) < 0.2


def test_default_batch_spreads_a_cold_audience(model: CurveModel) -> None:
    out = _decide(model, COLD, explore_share=0.0)
    assert max(_per_minute(out).values()) <= 0.05 * len(COLD)
    assert max(_per_minute(out).values()) == cold_cap(len(COLD))
    # One cold recipient alone still gets the prior's best minute.
    alone = _decide(model, COLD[:1], explore_share=0.0)[0]
    stayed = {d.target_minute_utc for d in out if not d.debug["moved"]}
    assert stayed == {alone.target_minute_utc}


def test_known_users_keep_their_value_under_a_capacity(model: CurveModel) -> None:
    known = list(model.universal_ids)
    free = _decide(model, known + COLD, explore_share=0.0)
    capped = _decide(model, known + COLD, explore_share=0.0, capacity=Capacity(per_minute=200))
    assert max(_per_minute(capped).values()) <= 200
    n = len(known)
    assert _value(model, capped[:n]) >= 0.98 * _value(model, free[:n])
    # A tight capacity makes the 100 who share a peak move, but they stay near it.
    tight = _decide(model, known + COLD, explore_share=0.0, capacity=Capacity(per_minute=25))
    assert max(_per_minute(tight).values()) <= 25
    assert _value(model, tight[:n]) >= 0.9 * _value(model, free[:n])
    assert any(d.debug["moved"] for d in tight[:n])


def test_the_provider_capacity_binds_when_lower() -> None:
    cap = Capacity(per_minute=500, per_provider={"sendgrid": 120})
    assert cap.limit("sendgrid") == 120
    assert cap.limit("klaviyo") == 500
    assert Capacity(per_provider={"klaviyo": 80}).limit("klaviyo") == 80
    assert Capacity().limit("klaviyo") is None


def test_per_provider_capacity_in_a_batch(model: CurveModel) -> None:
    cap = Capacity(per_minute=1000, per_provider={"sendgrid": 150})
    out = _decide(model, COLD[:3000], provider="sendgrid", capacity=cap)
    assert max(_per_minute(out).values()) <= 150


def test_a_window_too_small_for_the_audience_is_an_error(model: CurveModel) -> None:
    with pytest.raises(ValidationError) as info:
        _decide(model, COLD, capacity=Capacity(per_minute=10),
                send_after=NOW, send_before=NOW + timedelta(minutes=60))  # fmt: skip
    assert info.value.field == "capacity"


def test_spread_never_uses_a_suppressed_minute(model: CurveModel) -> None:
    m = epoch_minute(NOW)
    ids = [f"m{i}" for i in range(100)]
    # Half of them are suppressed for the first 30 hours (their best morning is gone).
    ctx = {u: Context(suppressions=[Suppression("complaint", m - 60, m + 30 * 60)])
           for u in ids[:50]}  # fmt: skip
    req = DecisionRequest(ids, explore_share=0.0, capacity=Capacity(per_minute=10))
    out = decide(req, model, FixedLatency(30.0), ctx, NOW)
    assert all(isinstance(d, Decision) for d in out)
    for d in out[:50]:
        assert isinstance(d, Decision)
        assert epoch_minute(d.target_minute_utc) >= m + 30 * 60
        assert d.debug["suppressed"] is True
    assert max(_per_minute(out).values()) <= 10  # type: ignore[arg-type]


def test_spread_places_sharp_units_first() -> None:
    # Unit 0 (sharp) and unit 1 (flat, 5 members) both prefer minute 0; capacity 2 per minute.
    vec = [np.array([1.0, 0.2, 0.2, 0.2]), np.array([1.0, 0.99, 0.98, 0.97])]
    sharp, flat = spread([Unit(1, 0), Unit(5, 0)], lambda us: np.stack([vec[u] for u in us]), 4, 2)
    assert [(p.index, p.count) for p in sharp] == [(0, 1)]
    assert sum(p.count for p in flat) == 5
    assert all(p.index != 0 or p.count <= 1 for p in flat)


def test_spread_from_run_factors_places_as_the_whole_window_does(model: CurveModel) -> None:
    """The capacity path reads units' best options from curve factors: same placements."""
    start = epoch_minute(START + timedelta(weeks=12, hours=1))
    slots = slots_of_minutes(np.arange(start, start + 2 * 1440))
    rows = np.repeat(np.arange(len(model.universal_ids)), 8)
    units = [Unit(1, int(b)) for b in model.window(rows, slots).argmax(axis=1)]
    runs = Runs.of(slots)

    def values(which: list[int]) -> np.ndarray:  # type: ignore[type-arg]
        return model.window(rows[which], slots)

    def best(which: list[int], k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
        factors = model.factors(rows[which])
        cols, vals = runs.top(*factors, k)
        at = np.asarray([units[u].preferred for u in which])
        return cols, vals, runs.value_at(*factors, at).astype(np.float64)

    dense = spread(units, values, slots.shape[0], 2)
    factored = spread(units, values, slots.shape[0], 2, best=best)
    assert factored == dense
    assert sum(p.index != u.preferred for u, ps in zip(units, dense, strict=True) for p in ps)
