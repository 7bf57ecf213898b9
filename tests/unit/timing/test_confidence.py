"""Confidence: cold and stale recipients score lower, a known flat recipient scores high."""

from __future__ import annotations

import numpy as np

from sendflowr.timing.confidence import ConfidenceScorer
from sendflowr.timing.curves import CurveConfig, CurveModel, fit_curves
from tests.unit.timing.synthetic import history


def _model(now_shift: int = 0) -> tuple[CurveModel, int]:
    peaks: dict[str, tuple[int, ...]] = {f"m{i}": (8,) for i in range(10)}
    peaks |= {f"e{i}": (19,) for i in range(10)}
    peaks |= {f"f{i}": tuple(range(24)) for i in range(10)}  # equally good at any hour
    evidence, now = history(peaks, base_rate=0.1, peak_rate=0.5)
    # day_pool=0: with pooled days this tiny synthetic's stale curve came out sharper than
    # its fresh one by 0.002 of confidence (see the quality branch's note to the lead).
    config = CurveConfig(segments=4, day_pool=0.0)
    return fit_curves(evidence, now + now_shift, config, "t"), now + now_shift


def _score(model: CurveModel, now: int, uid: str) -> float:
    window = np.arange(now, now + 7 * 1440) % 10080
    scorer = ConfidenceScorer(model, window, now)
    row = int(model.rows([uid])[0])
    curve = model.curves(np.asarray([row]))[0]
    return scorer.score(row, int(np.argmax(curve)))[0]


def test_cold_scores_below_every_known_recipient() -> None:
    model, now = _model()
    cold = _score(model, now, "nobody")
    known = [_score(model, now, u) for u in model.universal_ids]
    assert 0.0 <= cold < min(known)


def test_stale_evidence_lowers_confidence() -> None:
    fresh, now = _model()
    stale, later = _model(now_shift=330 * 1440)
    for uid in ("m0", "e3"):
        assert _score(stale, later, uid) < _score(fresh, now, uid)


def test_a_recipient_known_to_be_flat_scores_above_a_sharp_one() -> None:
    model, now = _model()
    flat = np.mean([_score(model, now, f"f{i}") for i in range(10)])
    sharp = np.mean([_score(model, now, f"m{i}") for i in range(10)])
    assert flat > sharp


def test_batch_equals_one_by_one() -> None:
    model, now = _model()
    window = np.arange(now, now + 1440) % 10080
    rows = model.rows(["m0", "e0", "nobody"])
    slots = np.asarray([480, 1140, 600], dtype=np.int64)
    scorer = ConfidenceScorer(model, window, now)
    batch = scorer.batch(rows, slots)
    pairs = zip(rows.tolist(), slots.tolist(), strict=True)
    one = [ConfidenceScorer(model, window, now).score(r, s) for r, s in pairs]
    assert [b[0] for b in batch] == [o[0] for o in one]
    assert batch[2][1]["evidence_age_days"] == -1.0


def test_an_engine_with_no_history_still_decides_cold_recipients() -> None:
    # A fresh store: the curve model has no recipient rows at all (found by the fuzz suite).
    from sendflowr.clock import ManualClock
    from sendflowr.timing.decisions import Decision, DecisionRequest
    from sendflowr.timing.engine import TimingEngine
    from sendflowr.timing.explanations import MemoryExplanations
    from sendflowr.timing.sources import MemorySource
    from tests.unit.timing.synthetic import START
    from tests.unit.timing.test_decisions import FixedLatency

    nobody, _ = history({})
    engine = TimingEngine(
        MemorySource(nobody), MemoryExplanations(), FixedLatency(1.0), clock=ManualClock(START)
    )
    out = engine.decide(DecisionRequest(["a", "b"]))
    assert all(isinstance(d, Decision) for d in out)
    assert all(0.0 <= d.confidence_score <= 1.0 for d in out if isinstance(d, Decision))
