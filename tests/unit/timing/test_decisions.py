"""Decisions: windows, trigger = target − latency (never in the past), suppression, hot paths."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import numpy as np
import numpy.typing as npt
import pytest

from sendflowr.errors import SuppressedError, ValidationError
from sendflowr.timing.confidence import ConfidenceScorer
from sendflowr.timing.context import Context, Suppression
from sendflowr.timing.curves import CurveConfig, CurveModel, fit_curves
from sendflowr.timing.decisions import AIM_SECONDS, Decision, DecisionRequest, Skipped, decide
from sendflowr.timing.grid import epoch_minute, hour_of_day, slot_of
from sendflowr.timing.latency import LatencyInputs
from sendflowr.timing.zones import local_slots, quiet_mask
from tests.unit.timing.synthetic import START, history


class FixedLatency:
    version = "fixed"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, x: LatencyInputs) -> npt.NDArray[np.float64]:
        return np.full(x.channel.shape[0], self.seconds)


@pytest.fixture(scope="module")
def model() -> CurveModel:
    peaks = {f"m{i}": (8,) for i in range(10)} | {f"e{i}": (19,) for i in range(10)}
    evidence, now = history(peaks)
    return fit_curves(evidence, now, CurveConfig(segments=4), "test")


NOW = START + timedelta(weeks=12, hours=1)  # a Monday 01:00 right after the history


def _one(model: CurveModel, **kw: object) -> Decision:
    req = DecisionRequest(universal_ids=["m1"], **kw)  # type: ignore[arg-type]
    out = decide(req, model, FixedLatency(120.0), {}, NOW)
    assert isinstance(out[0], Decision)
    return out[0]


def test_trigger_is_target_plus_aim_minus_latency(model: CurveModel) -> None:
    d = _one(model)
    assert d.trigger_timestamp_utc == d.target_minute_utc + timedelta(seconds=AIM_SECONDS - 120)
    assert d.latency_estimate_seconds == 120.0
    assert d.target_minute_utc.second == 0
    assert int(hour_of_day(slot_of(d.target_minute_utc))) == 8
    assert d.target_minute_utc.weekday() < 5
    assert 0.0 <= d.confidence_score <= 1.0
    assert d.debug["base_curve_peak"]["label"].endswith(d.target_minute_utc.strftime("%H:%M"))


def test_decision_stays_inside_the_window(model: CurveModel) -> None:
    after = NOW + timedelta(hours=30)  # Tuesday 07:00
    before = after + timedelta(hours=5)
    d = _one(model, send_after=after, send_before=before)
    assert after <= d.target_minute_utc < before
    assert d.target_minute_utc.hour == 8


def test_trigger_is_never_in_the_past(model: CurveModel) -> None:
    # The window opens now and a send takes 10 minutes: the first minutes are unreachable.
    req = DecisionRequest(["nobody"], send_before=NOW + timedelta(minutes=15))
    d = decide(req, model, FixedLatency(600.0), {}, NOW)[0]
    assert isinstance(d, Decision)
    assert d.trigger_timestamp_utc >= NOW
    assert d.target_minute_utc >= NOW + timedelta(minutes=9)
    with pytest.raises(ValidationError, match="closes before"):
        decide(DecisionRequest(["nobody"], send_before=NOW + timedelta(minutes=5)), model,
               FixedLatency(600.0), {}, NOW)  # fmt: skip


def test_window_across_the_week_boundary(model: CurveModel) -> None:
    sunday = NOW + timedelta(days=6, hours=21)  # Sunday 22:00
    d = _one(model, send_after=sunday, send_before=sunday + timedelta(hours=12))
    assert d.target_minute_utc.weekday() == 0  # Monday morning beats Sunday night
    assert d.target_minute_utc.hour == 8


def test_hot_path_pulls_the_decision_into_its_boost(model: CurveModel) -> None:
    # An evening person browses now: the next minutes beat tonight's peak only if boosted.
    at = NOW + timedelta(hours=3)  # 04:00, a dead hour
    window = DecisionRequest(["e1"], send_after=at, send_before=at + timedelta(hours=2))
    plain = decide(window, model, FixedLatency(10.0), {}, at)[0]
    ctx = {"e1": Context(hot_paths=[epoch_minute(at)])}
    hot = decide(window, model, FixedLatency(10.0), ctx, at)[0]
    assert isinstance(hot, Decision) and isinstance(plain, Decision)
    assert hot.target_minute_utc - at < timedelta(minutes=30)
    assert hot.debug["applied_weights"]["hot_path"] > 0


def test_suppression_overrides_a_hot_path(model: CurveModel) -> None:
    m = epoch_minute(NOW)
    ctx = {
        "m1": Context(
            hot_paths=[m], suppressions=[Suppression("support_ticket", m - 60, m + 47 * 60)]
        )
    }
    req = DecisionRequest(["m1"], send_before=NOW + timedelta(days=3))
    d = decide(req, model, FixedLatency(60.0), ctx, NOW)[0]
    assert isinstance(d, Decision)
    assert d.target_minute_utc >= NOW + timedelta(hours=47)
    # A window entirely inside it: skipped in a batch, 409 for a single decision.
    short = DecisionRequest(["m1"], send_before=NOW + timedelta(hours=5))
    skipped = decide(short, model, FixedLatency(60.0), ctx, NOW)[0]
    assert isinstance(skipped, Skipped)
    assert skipped.reason == "support_ticket"
    assert skipped.until == datetime.fromtimestamp((m + 47 * 60) * 60, UTC)
    with pytest.raises(SuppressedError):
        decide(short, model, FixedLatency(60.0), ctx, NOW, raise_suppressed=True)


def test_permanent_unsubscribe_skips_forever(model: CurveModel) -> None:
    ctx = {"m1": Context(suppressions=[Suppression("unsubscribed", 0, None)])}
    out = decide(DecisionRequest(["m1", "m2"]), model, FixedLatency(60.0), ctx, NOW)
    assert isinstance(out[0], Skipped) and out[0].until is None
    assert isinstance(out[1], Decision)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"send_after": NOW + timedelta(hours=2), "send_before": NOW + timedelta(hours=1)},
         "send_before"),
        ({"send_before": NOW - timedelta(hours=1)}, "send_before"),
        ({"send_before": NOW + timedelta(days=40)}, "send_before"),
        ({"explore_share": 1.5}, "explore_share"),
        ({"cold_share": 0.0}, "cold_share"),
    ],
)  # fmt: skip
def test_bad_requests_name_the_field(model: CurveModel, kw: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        decide(DecisionRequest(["m1"], **kw), model, FixedLatency(1.0), {}, NOW)  # type: ignore[arg-type]
    assert info.value.field == field


def test_batch_and_single_agree(model: CurveModel) -> None:
    ids = [f"m{i}" for i in range(10)] + ["cold"]
    batch = decide(DecisionRequest(ids), model, FixedLatency(60.0), {}, NOW)
    for uid, d in zip(ids, batch, strict=True):
        single = decide(DecisionRequest([uid]), model, FixedLatency(60.0), {}, NOW)[0]
        assert isinstance(d, Decision) and isinstance(single, Decision)
        assert d.target_minute_utc == single.target_minute_utc
    cold = batch[-1]
    assert isinstance(cold, Decision)
    assert cold.explanation["cold_start"] is True
    assert cold.confidence_score < min(d.confidence_score for d in batch[:-1])  # type: ignore[union-attr]


def test_after_a_suppression_the_best_slot_left_not_the_first_free_minute(
    model: CurveModel,
) -> None:
    m = epoch_minute(NOW)  # Monday 01:00
    for hours in (2, 5, 20, 30):  # ends before Monday's peak, after it, before/after Tuesday's
        end = m + hours * 60
        ctx = {"m1": Context(suppressions=[Suppression("complaint", m - 60, end)])}
        req = DecisionRequest(["m1"], send_before=NOW + timedelta(days=2), explore_share=0.0)
        d = decide(req, model, FixedLatency(60.0), ctx, NOW)[0]
        assert isinstance(d, Decision)
        target = epoch_minute(d.target_minute_utc)
        assert target >= end
        assert target > end + 60  # not merely the first minute it is allowed again
        assert d.target_minute_utc.hour == 8  # the m-users' peak, on the first day left
        assert d.debug["suppressed"] is True
        # The same as deciding on the window that starts when the suppression ends.
        after = DecisionRequest(["m1"], send_after=datetime.fromtimestamp(end * 60, UTC),
                                send_before=NOW + timedelta(days=2), explore_share=0.0)  # fmt: skip
        free = decide(after, model, FixedLatency(60.0), {}, NOW)[0]
        assert isinstance(free, Decision) and free.target_minute_utc == d.target_minute_utc


def test_an_almost_entirely_suppressed_window_answers_its_best_free_minute(
    model: CurveModel,
) -> None:
    m = epoch_minute(NOW)
    ctx = {"m1": Context(suppressions=[Suppression("support_ticket", m - 60, m + 47 * 60)])}
    # Ten free minutes at the end of a 48-hour window: decided there, flagged, and how little.
    req = DecisionRequest(["m1"], send_before=NOW + timedelta(hours=47, minutes=10))
    d = decide(req, model, FixedLatency(60.0), ctx, NOW, raise_suppressed=True)[0]
    assert isinstance(d, Decision)
    assert m + 47 * 60 <= epoch_minute(d.target_minute_utc) < m + 47 * 60 + 10
    assert d.debug["suppressed"] is True
    assert 0 < d.debug["eligible_share"] < 0.01
    assert d.explanation["context"]["eligible_share"] == d.debug["eligible_share"]
    # No free minute at all: 409 for one recipient, skipped in a batch.
    closed = DecisionRequest(["m1", "m2"], send_before=NOW + timedelta(hours=47))
    with pytest.raises(SuppressedError):
        decide(closed, model, FixedLatency(60.0), ctx, NOW, raise_suppressed=True)
    out = decide(closed, model, FixedLatency(60.0), ctx, NOW)
    assert isinstance(out[0], Skipped) and isinstance(out[1], Decision)
    assert out[1].debug["suppressed"] is False and out[1].debug["eligible_share"] == 1.0


def test_the_batch_path_matches_a_dense_per_recipient_reference() -> None:
    """Targets, values and confidences equal what one recipient's dense curve gives."""
    peaks = {f"u{i}": ((6 + i) % 24, (14 + 3 * i) % 24) for i in range(48)}
    evidence, end = history(peaks, weeks=6, sends_per_day=2, seed=11)
    fitted = fit_curves(evidence, end, CurveConfig(segments=6), "ref")
    now = START + timedelta(weeks=6, hours=3, minutes=41, seconds=7)
    zone, quiet = "America/New_York", (time(21), time(8))
    ids = [*fitted.universal_ids, "cold-one"]
    req = DecisionRequest(ids, explore_share=0.0, timezone=zone, quiet_hours=(*quiet, zone))
    out = decide(req, fitted, FixedLatency(90.0), {}, now)

    first = -(-int(now.timestamp()) // 60)
    cand = np.arange(first, first + 7 * 1440, dtype=np.int64)
    cand = cand[(cand * 60.0 + AIM_SECONDS - 90.0 >= now.timestamp())
                & quiet_mask(cand, zone, *quiet)]  # fmt: skip
    slots = local_slots(cand, zone)
    scorer = ConfidenceScorer(fitted, slots, epoch_minute(now))
    for uid, d in zip(ids, out, strict=True):
        assert isinstance(d, Decision)
        row = fitted.rows([uid])
        values = fitted.window(row, slots)[0]
        best = int(values.argmax())
        assert d.target_minute_utc == START + timedelta(
            minutes=int(cand[best]) - epoch_minute(START)
        )
        assert d.debug["base_curve_peak"]["value"] == round(float(values[best]), 6)
        value, parts = scorer.score(int(row[0]), int(slots[best]))
        assert d.confidence_score == round(min(max(value, 0.0), 1.0), 4)
        assert {k: d.explanation["confidence"][k] for k in parts} == parts
        sharp = 1.0 - float(values.astype(np.float64).mean()) / float(values[best])
        assert d.explanation["confidence"]["sharpness"] == pytest.approx(sharp, abs=1e-4)


def test_every_decision_of_a_batch_has_its_own_uuid7_at_now(model: CurveModel) -> None:
    ids = [*model.universal_ids, *(f"cold{i}" for i in range(300))]
    out = decide(DecisionRequest(ids), model, FixedLatency(60.0), {}, NOW)
    names = [d.decision_id for d in out if isinstance(d, Decision)]
    assert len(set(names)) == len(ids)
    for name in names:
        u = UUID(name)
        assert u.version == 7 and str(u) == name
        assert u.int >> 80 == int(NOW.timestamp() * 1000)
