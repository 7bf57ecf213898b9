"""The batched with-context path gives the decisions of the one-by-one reference."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import time, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from sendflowr.timing import decisions
from sendflowr.timing.audience import Capacity
from sendflowr.timing.context import (
    FATIGUE_WINDOW_MINUTES,
    HOT_PATH_HORIZON_MINUTES,
    Context,
    Suppression,
    apply_modifiers,
    batch_weights,
    fatigue_weights,
    modifier_span,
)
from sendflowr.timing.curves import CurveConfig, CurveModel, fit_curves
from sendflowr.timing.decisions import Decision, DecisionRequest, decide
from sendflowr.timing.explore import exploration_choices
from sendflowr.timing.grid import epoch_minute
from sendflowr.timing.runs import Runs
from tests.unit.timing.synthetic import START, history
from tests.unit.timing.test_decisions import FixedLatency

NOW = START + timedelta(weeks=6, hours=5, minutes=17, seconds=23)


def _reference_evaluate(
    batch: Any, row: int, ctx: Context
) -> tuple[Any, Any, dict[str, Any]]:  # the former one-by-one code, kept as the reference
    base = batch.curves.window(np.asarray([row], dtype=np.int64), batch.slots)[0]
    final, weights = apply_modifiers(base, batch.cand, ctx)
    return base, final, weights


def _reference_picks(
    batch: Any, rows: npt.NDArray[np.int64], evidence: npt.NDArray[np.float64], ctxs: list[Context]
) -> Iterator[tuple[Any, bool]]:
    for row, ev, ctx in zip(rows.tolist(), evidence.tolist(), ctxs, strict=True):
        base, final, weights = _reference_evaluate(batch, row, ctx)
        best, peak = int(final.argmax()), int(base.argmax())
        positive = final[final > 0]
        sharp = 1.0 - float(positive.mean()) / float(final.max()) if positive.size else 0.0
        breaker = weights.get("circuit_breaker")
        eligible = 1.0 if breaker is None else float((breaker == 0).mean())
        pick = decisions._Pick(
            best=best,
            peak=peak,
            sharpness=sharp,
            base_best=float(base[best]),
            final_best=float(final[best]),
            base_peak=float(base[peak]),
            weights={name: float(w[best]) for name, w in weights.items()},
            evidence=float(ev),
            cold=row < 0,
            ctx=ctx,
            eligible_share=eligible,
        )
        yield pick, bool(final.any())


def _reference_explore_live(
    batch: Any, picks: dict[int, Any], rows: npt.NDArray[np.int64], chosen: Any, prior: Any
) -> dict[int, Any]:  # the former one-by-one exploration of recipients with context
    out = {}
    for i, where in chosen:
        pick, row = picks[i], int(rows[i])
        values = decisions._values(batch, row, pick.ctx)
        choices = exploration_choices(values, prior)
        if not choices.size:
            continue
        index = int(choices[min(int(where * choices.size), choices.size - 1)])
        note = decisions._exploration(batch, pick, values, index)
        out[i] = decisions._at(batch, pick, index, row, float(values[index]), exploration=note)
    return out


@pytest.fixture(scope="module")
def fitted() -> CurveModel:
    peaks = {f"u{i}": ((5 + 7 * i) % 24, (13 + 5 * i) % 24) for i in range(40)}
    evidence, _ = history(peaks, weeks=6, sends_per_day=2, seed=5)
    return fit_curves(evidence, epoch_minute(NOW), CurveConfig(segments=5), "ctx")


def _contexts(ids: list[str], seed: int) -> dict[str, Context]:
    """Random live contexts: sends, hot paths and breakers (short, long, permanent, past)."""
    rng = np.random.default_rng(seed)
    now = epoch_minute(NOW)
    reasons = ["complaint", "support_ticket", "unsubscribe_request", "unsubscribed"]
    out = {}
    for u in ids:
        ctx = Context()
        if rng.random() < 0.8:
            ctx.recent_sends = sorted(
                (now - rng.integers(0, FATIGUE_WINDOW_MINUTES, rng.integers(1, 5))).tolist()
            )
        if rng.random() < 0.3:
            ctx.hot_paths = (now - rng.integers(0, 2 * HOT_PATH_HORIZON_MINUTES, 2)).tolist()
        if rng.random() < 0.25:
            for _ in range(int(rng.integers(1, 3))):
                start = now + int(rng.integers(-3 * 1440, 6 * 1440))
                kind = rng.integers(0, 4)
                end = None if kind == 0 else start + int(rng.choice([60, 2880, 10080, 20000]))
                ctx.suppressions.append(Suppression(str(rng.choice(reasons)), start, end))
        out[u] = ctx
    return out


def _fields(answer: list[Any]) -> list[Any]:
    out = []
    for a in answer:
        if isinstance(a, Decision):
            d = asdict(a)
            d.pop("decision_id")
            out.append(d)
        else:
            out.append(a)
    return out


@pytest.mark.parametrize("chunk", [3 * 10080, decisions._CONTEXT_CELLS_PER_CHUNK])
@pytest.mark.parametrize("seed", range(6))
def test_batched_context_path_equals_the_one_by_one_reference(
    fitted: CurveModel, seed: int, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [*fitted.universal_ids, *(f"cold{i}" for i in range(20)), "u3"] * 3 + ["u3"]
    contexts = _contexts(ids[:-1], seed)
    rng = np.random.default_rng(100 + seed)
    req = DecisionRequest(
        ids,
        send_after=NOW + timedelta(minutes=int(rng.integers(0, 600))),
        send_before=NOW + timedelta(days=int(rng.integers(1, 9))),
        explore_share=float(rng.choice([0.0, 0.3])),
        explore_seed=seed,
        capacity=Capacity(per_minute=2) if seed % 2 else None,
        quiet_hours=(time(22), time(7), "Europe/Berlin") if seed % 3 == 0 else None,  # gaps
    )
    monkeypatch.setattr(decisions, "_CONTEXT_CELLS_PER_CHUNK", chunk)  # 3 rows, or all in one
    new = decide(req, fitted, FixedLatency(75.0), contexts, NOW)
    with monkeypatch.context() as m:
        m.setattr(decisions, "_context_picks", _reference_picks)
        m.setattr(decisions, "_evaluate", _reference_evaluate)
        m.setattr(decisions, "_explore_live", _reference_explore_live)
        reference = decide(req, fitted, FixedLatency(75.0), contexts, NOW)
    assert _fields(new) == _fields(reference)
    kinds = [type(a).__name__ for a in new]
    assert "Decision" in kinds
    assert any(a.debug["applied_weights"] for a in new if isinstance(a, Decision))
    if req.explore_share:  # recipients with context explored too
        explored = [a for a in new if isinstance(a, Decision) and a.debug["exploration"]]
        assert any(a.debug["applied_weights"] for a in explored)


def test_modifiers_stay_inside_their_span() -> None:
    rng = np.random.default_rng(3)
    minutes = np.arange(10_000, 10_000 + 4 * 1440, dtype=np.int64)
    for _ in range(50):
        ctx = Context(
            hot_paths=(10_000 + rng.integers(-60, 600, 2)).tolist(),
            recent_sends=(10_000 + rng.integers(-1440, 1440, 3)).tolist(),
            suppressions=[Suppression("complaint", 10_000 + int(rng.integers(0, 3000)), None)]
            if rng.random() < 0.3
            else [],
        )
        span = modifier_span(ctx)
        assert span is not None
        outside = (minutes < span[0]) | (minutes >= span[1])
        final, weights = apply_modifiers(np.ones(minutes.shape[0]), minutes, ctx)
        assert (final[outside] == 1.0).all()
        assert all((w[outside] == 0).all() for w in weights.values())
    assert modifier_span(Context()) is None


def test_fatigue_weights_equal_apply_modifiers_per_recipient() -> None:
    rng = np.random.default_rng(9)
    minutes = np.arange(50_000, 50_000 + 3000, dtype=np.int64)
    sends = [sorted((50_000 + rng.integers(-1500, 1500, k)).tolist()) for k in (1, 2, 3, 6, 4)]
    sends.append([50_000, 50_000, 50_000])  # the same minute thrice counts thrice
    omega = fatigue_weights(sends, minutes)
    for row, s in zip(omega, sends, strict=True):
        _, weights = apply_modifiers(np.ones(minutes.shape[0]), minutes, Context(recent_sends=s))
        assert np.array_equal(row, weights.get("fatigue", np.zeros(minutes.shape[0])))
    assert (omega < 0).any()


def _mixed_contexts(n: int, now: int, rng: np.random.Generator) -> list[Context]:
    """Contexts of every kind and mix: quiet ones, many sends (3+), hot paths near the
    window's edges, short/long/permanent/past/overlapping breakers, future events."""
    reasons = ["complaint", "support_ticket", "unsubscribe_request", "unsubscribed"]
    out = []
    for _ in range(n):
        ctx = Context()
        if rng.random() < 0.7:
            k = int(rng.choice([1, 1, 2, 3, 5, 8]))
            ctx.recent_sends = sorted((now + rng.integers(-2 * 1440, 3 * 1440, k)).tolist())
            if rng.random() < 0.1:
                ctx.recent_sends += ctx.recent_sends[:1] * 2  # the same minute counted thrice
        if rng.random() < 0.3:
            ctx.hot_paths = (now + rng.integers(-45, 4 * 1440, int(rng.integers(1, 4)))).tolist()
        if rng.random() < 0.2:
            for _ in range(int(rng.integers(1, 4))):
                start = now + int(rng.integers(-3 * 1440, 6 * 1440))
                end = None if rng.random() < 0.2 else start + int(rng.choice([1, 60, 2880, 9000]))
                ctx.suppressions.append(Suppression(str(rng.choice(reasons)), start, end))
        out.append(ctx)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_batch_weights_equal_apply_modifiers_per_recipient(seed: int) -> None:
    rng = np.random.default_rng(40 + seed)
    now = 60_000
    minutes = np.arange(now, now + 5 * 1440, dtype=np.int64)
    minutes = minutes[rng.random(minutes.shape[0]) < 0.8]  # gaps, as quiet hours cut
    contexts = _mixed_contexts(120, now, rng)
    kinds = batch_weights(contexts, minutes)
    for k, ctx in enumerate(contexts):
        _, expected = apply_modifiers(np.ones(minutes.shape[0]), minutes, ctx)
        got = {}
        for w in kinds:
            if k in w.rows.tolist():
                omega = np.zeros(minutes.shape[0])
                omega[w.start : w.end] = w.omega[w.rows.tolist().index(k)]
                if omega.any():
                    got[w.name] = omega
        assert list(got) == list(expected)  # the same kinds, in the same order
        for name, omega in expected.items():
            assert np.array_equal(got[name], omega), (k, name)


def _batch(fitted: CurveModel, rng: np.random.Generator, req: DecisionRequest) -> Any:
    """A window from now, cut by random gaps; slots by the epoch-minute week."""
    now = epoch_minute(NOW)
    cand = np.arange(now + 1, now + 1 + int(rng.integers(600, 9 * 1440)), dtype=np.int64)
    cand = cand[rng.random(cand.shape[0]) < 0.9]
    slots = cand % 10080  # any fixed map of minutes to week slots will do
    scorer: Any = None  # no confidences here
    lat = np.zeros(cand.shape[0])
    return decisions._Batch(
        cand, slots, lat, fitted, FixedLatency(0.0), "v", NOW, req, scorer, Runs.of(slots)
    )


@pytest.mark.parametrize("floor", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_context_picks_equal_one_by_one_evaluation(
    fitted: CurveModel, seed: int, floor: bool
) -> None:
    """The chunked picks against ``_evaluate`` (the one-recipient path) on mixed contexts.

    Without the uniform floor no base curve is known positive: rows are read in full.
    """
    if not floor:
        fitted = replace(fitted, config=replace(fitted.config, uniform_prior=0.0))
    rng = np.random.default_rng(seed)
    now = epoch_minute(NOW)
    batch = _batch(fitted, rng, DecisionRequest([]))
    n = 150
    rows = rng.integers(-1, len(fitted.universal_ids), n).astype(np.int64)
    evidence = fitted.evidence_weight(rows)
    contexts = _mixed_contexts(n, now, rng)
    picks = list(decisions._context_picks(batch, rows, evidence, contexts))
    reference = list(_reference_picks(batch, rows, evidence, contexts))
    assert picks == reference
    for (pick, _), row, ctx in zip(picks, rows.tolist(), contexts, strict=True):
        base, final, weights = decisions._evaluate(batch, row, ctx)
        assert pick.best == int(final.argmax())
        assert pick.final_best == float(final[pick.best])
        assert pick.base_best == float(base[pick.best])
        assert pick.weights == {name: float(w[pick.best]) for name, w in weights.items()}
    assert any(p.weights for p, _ in picks) and not all(left for _, left in picks)


@pytest.mark.parametrize("seed", range(4))
def test_exploring_with_context_equals_one_by_one_evaluation(
    fitted: CurveModel, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every recipient explores: the chunked exploration against ``_values`` and ``_at``."""
    rng = np.random.default_rng(20 + seed)
    n = 120
    ids = [f"r{k}" for k in range(n)]
    batch = _batch(fitted, rng, DecisionRequest(ids, explore_share=1.0, explore_seed=seed))
    rows = rng.integers(-1, len(fitted.universal_ids), n).astype(np.int64)
    hot = Context(hot_paths=[epoch_minute(NOW) + 90])  # for the quiet ones: all have context
    contexts = [hot if c.empty else c for c in _mixed_contexts(n, epoch_minute(NOW), rng)]
    picks = dict(enumerate(p for p, _ in _reference_picks(batch, rows, rows * 0.0, contexts)))
    new = decisions._explore(batch, picks, rows)
    monkeypatch.setattr(decisions, "_explore_live", _reference_explore_live)
    monkeypatch.setattr(decisions, "_evaluate", _reference_evaluate)
    assert new == decisions._explore(batch, picks, rows)
    assert len(new) > n // 2
    assert any(p.base_best != p.final_best for p in new.values())  # a modifier at the minute
