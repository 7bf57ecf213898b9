"""Confidence: cold and stale recipients score lower, a known flat recipient scores high."""

from __future__ import annotations

import itertools

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


# Properties of the formula itself, on a hand-built model: three segments, one peaked on
# Monday 08h, one on Monday 19h, one flat; rows are recipients with chosen posteriors.
_MON_08, _MON_19 = 8, 19  # hours of the week (Monday 00h = 0)
_NOW = 29_000_000  # an epoch minute


def _hand(
    resp: list[list[float]], age_days: list[float] | None = None, sizes: list[float] | None = None
) -> CurveModel:
    profiles = np.full((3, 168), 0.1)  # lifts like the shipped world's segments (0.1–0.3)
    profiles[0, _MON_08] = 0.14
    profiles[1, _MON_19] = 0.14
    profiles[2] = 0.12
    n = len(resp)
    ages = np.asarray(age_days if age_days is not None else [0.0] * n)
    return CurveModel(
        config=CurveConfig(),
        universal_ids=[f"u{i}" for i in range(n)],
        hour_rate=np.full((n, 168), 0.1),
        minute_factor=np.ones((n, 60)),
        exposures=np.full(n, 100.0),
        engagement=np.full(n, 20.0),
        recent_exposures=np.zeros(n),
        cohort_size=np.ones(n, np.int64),
        global_hour_rate=profiles.mean(axis=0),
        global_minute_factor=np.ones(60),
        fitted_at_minute=_NOW,
        version="hand",
        newest_minute=(_NOW - ages * 1440).astype(np.int64),
        segment_profiles=profiles,
        segment_weights=np.full(3, 1 / 3),
        segment_resp=np.asarray(resp, dtype=np.float64),
        **({"segment_sizes": np.asarray(sizes)} if sizes is not None else {}),
    )


def _hand_scores(model: CurveModel, rows: list[int], hours: list[int]) -> list[float]:
    scorer = ConfidenceScorer(model, np.arange(7 * 1440, dtype=np.int64), _NOW)
    slots = np.asarray(hours, dtype=np.int64) * 60 + 30
    return [float(v) for v in scorer.scores(np.asarray(rows, dtype=np.int64), slots)[0]]


def test_confidence_rises_as_the_evidence_pins_the_pattern_down() -> None:
    # Between the two peaked segments (a chance of being flat would raise it instead: under
    # that hypothesis no minute is worse than another).
    pinned = [0.5, 0.6, 0.8, 0.9, 0.99]
    model = _hand([[p, 1 - p, 0.0] for p in pinned])
    scores = _hand_scores(model, list(range(len(pinned))), [_MON_08] * len(pinned))
    assert all(a < b for a, b in itertools.pairwise(scores))


def test_a_curve_flat_for_lack_of_evidence_scores_below_a_known_peak() -> None:
    # Row 0's evidence cannot tell the morning segment from the evening one: its mixed curve
    # is flat, and whichever peak is chosen is wrong under half of its posterior.
    model = _hand([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    unsure, known = _hand_scores(model, [0, 1], [_MON_08, _MON_08])
    assert unsure < known


def test_a_recipient_known_to_be_flat_scores_high_anywhere() -> None:
    model = _hand([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    flat_anywhere = _hand_scores(model, [0, 0], [_MON_08, 100])
    peaked_right, peaked_wrong = _hand_scores(model, [1, 1], [_MON_08, _MON_19])
    assert min(flat_anywhere) > peaked_right > peaked_wrong


def test_confidence_falls_with_the_age_of_the_evidence_toward_the_cold_score() -> None:
    ages = [0.0, 30.0, 180.0, 365.0, 3650.0]
    model = _hand([[1.0, 0.0, 0.0]] * len(ages), ages)
    scores = _hand_scores(model, [*range(len(ages)), -1], [_MON_08] * (len(ages) + 1))
    *known, cold = scores
    assert all(a > b for a, b in itertools.pairwise(known))
    assert known[-1] > cold
    assert known[-1] - cold < 0.01 * (known[0] - cold)


def test_a_lift_within_its_segments_sampling_noise_puts_nothing_at_stake() -> None:
    # Segment 0 peaks at Monday 08h by 0.04 over a 0.1 rate. With 100 exposures (one
    # recipient) an hour's rate is uncertain by ±0.15: that peak is noise, any hour is as
    # good and the score is the same at the peak and elsewhere. With 100,000 exposures
    # (±0.005) the same peak is real: the other hour costs, and so does the lift at risk.
    pinned = [[1.0, 0.0, 0.0]]
    thin = _hand(pinned, sizes=[1.0, 1.0, 1.0])
    thick = _hand(pinned, sizes=[1000.0, 1000.0, 1000.0])
    at_peak, elsewhere = _hand_scores(thin, [0, 0], [_MON_08, _MON_19])
    assert at_peak == elsewhere > 0.99
    real_peak, real_elsewhere = _hand_scores(thick, [0, 0], [_MON_08, _MON_19])
    assert real_peak > real_elsewhere
    assert at_peak > real_peak
    window = np.arange(7 * 1440, dtype=np.int64)
    slot = np.asarray([_MON_08 * 60])
    beyond = [ConfidenceScorer(m, window, _NOW).batch(np.asarray([0]), slot)[0][1]["beyond_noise"]
              for m in (thin, thick)]  # fmt: skip
    assert beyond == [0.0, 1.0]


def test_more_exposures_never_lower_the_share_of_segments_beyond_noise() -> None:
    # Segments 0 and 1 are peaked (posterior 0.7 between them), segment 2 is exactly flat.
    window = np.arange(7 * 1440, dtype=np.int64)
    shares = []
    for size in (1.0, 10.0, 100.0, 1000.0, 10000.0):
        model = _hand([[0.4, 0.3, 0.3]], sizes=[size] * 3)
        parts = ConfidenceScorer(model, window, _NOW).batch(np.asarray([0]), np.asarray([30]))
        shares.append(parts[0][1]["beyond_noise"])
    assert all(a <= b for a, b in itertools.pairwise(shares))
    assert shares[0] == 0.0
    assert shares[-1] == 0.7
