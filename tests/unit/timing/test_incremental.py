"""Incremental refits: frozen prior and segments, rows patched, new recipients appended."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import numpy as np
import pytest

from sendflowr.clock import ManualClock
from sendflowr.timing.context import Context
from sendflowr.timing.curves import (
    CurveConfig,
    CurveModel,
    Evidence,
    RecipientIndex,
    fit_curves,
    refit_curves,
)
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import MemoryExplanations
from sendflowr.timing.grid import from_epoch_minute, hour_of_day, hourly_projection
from sendflowr.timing.latency import HeuristicLatency
from sendflowr.timing.live import LiveContexts, LiveSource
from sendflowr.timing.segments import fit_segments
from sendflowr.timing.sources import MemorySource, merge
from tests.unit.timing.synthetic import history

PEAKS = {f"m{i}": (8,) for i in range(8)} | {f"e{i}": (19,) for i in range(8)}
CONFIG = CurveConfig(segments=3)


def _subset(evidence: Evidence, keep: Sequence[str]) -> Evidence:
    """``evidence`` of the users in ``keep`` only (in that order)."""
    old = {u: i for i, u in enumerate(evidence.universal_ids)}
    new_of = np.full(len(evidence.universal_ids), -1, dtype=np.int64)
    for j, uid in enumerate(keep):
        new_of[old[uid]] = j
    d, a = new_of[evidence.user_index], new_of[evidence.activity_index]
    return Evidence(
        universal_ids=list(keep),
        user_index=d[d >= 0],
        delivered_minute=evidence.delivered_minute[d >= 0],
        clicked=evidence.clicked[d >= 0],
        opened=evidence.opened[d >= 0],
        activity_index=a[a >= 0],
        activity_minute=evidence.activity_minute[a >= 0],
    )


def _row(model: CurveModel, uid: str) -> np.ndarray:  # type: ignore[type-arg]
    return model.curves(model.rows([uid]))[0]


def test_refit_of_a_subset_with_unchanged_globals_equals_the_full_fit() -> None:
    evidence, now = history(PEAKS, active={"m0": (8, 9), "e0": (19, 20)})
    full = fit_curves(evidence, now, CONFIG, "full")
    some = ["e3", "m1", "m0"]
    part = refit_curves(full, _subset(evidence, some), now, "part")
    assert list(part.universal_ids) == list(full.universal_ids)  # no row added or moved
    for uid in PEAKS:
        np.testing.assert_allclose(_row(part, uid), _row(full, uid), rtol=1e-5)
    rows = full.rows(some)
    np.testing.assert_allclose(part.segment_resp[rows], full.segment_resp[rows], atol=1e-6)
    assert part.cohort_size[rows].tolist() == full.cohort_size[rows].tolist()
    assert part.version == "part" and full.version == "full"


def test_refit_keeps_the_prior_frozen_and_gives_new_users_curves() -> None:
    evidence, now = history(PEAKS | {"late": (19,), "early": (8,)})
    base = fit_curves(_subset(evidence, list(PEAKS)), now, CONFIG, "base")
    grown = refit_curves(base, _subset(evidence, ["late", "m2", "early"]), now, "grown")
    assert list(grown.universal_ids) == [*PEAKS, "late", "early"]  # appended in order
    assert grown.rows(["late", "early", "nobody"]).tolist() == [len(PEAKS), len(PEAKS) + 1, -1]
    np.testing.assert_array_equal(grown.segment_profiles, base.segment_profiles)
    np.testing.assert_array_equal(grown.global_hour_rate, base.global_hour_rate)
    for uid, peak in (("late", 19), ("early", 8)):
        assert int(np.argmax(hourly_projection(_row(grown, uid)))) == peak, uid
        assert grown.evidence_weight(grown.rows([uid]))[0] > 0
    for uid in PEAKS:  # the others' rows are untouched
        np.testing.assert_array_equal(_row(grown, uid), _row(base, uid))
    assert base.rows(["late"]).tolist() == [-1]  # the old model is not modified


class _Growing:
    """A fake incremental source: evidence is appended per user; a watermark counts appends."""

    def __init__(self, evidence: Evidence) -> None:
        self.full = evidence
        self.log: list[str] = list(evidence.universal_ids)  # one entry per ingest
        self.calls: list[Sequence[str] | None] = []

    def add(self, more: Evidence) -> None:
        self.full = merge(self.full, more)
        self.log.extend(more.universal_ids)

    def evidence(self, now_minute: int, universal_ids: Sequence[str] | None = None) -> Evidence:
        self.calls.append(universal_ids)
        return self.full if universal_ids is None else _subset(self.full, universal_ids)

    def changed_since(self, watermark: int) -> tuple[list[str], int]:
        return sorted(set(self.log[watermark:])), len(self.log)

    def contexts(self, universal_ids: list[str], now_minute: int) -> dict[str, Context]:
        return {}


def test_engine_refresh_refits_only_recipients_with_new_evidence() -> None:
    evidence, end = history(PEAKS | {"new": (19,)})
    source = _Growing(_subset(evidence, list(PEAKS)))
    clock = ManualClock(from_epoch_minute(end))
    engine = TimingEngine(source, MemoryExplanations(), HeuristicLatency(), config=CONFIG,
                          clock=clock)  # fmt: skip
    assert engine.refresh() == len(PEAKS)  # the first is a full fit
    first = engine.fitted
    assert first is not None and source.calls == [None]
    assert engine.refresh() == 0  # nothing new: nothing refitted, same rows
    assert engine.fitted is not None
    np.testing.assert_array_equal(engine.fitted.hour_rate, first.hour_rate)

    source.add(_subset(evidence, ["new"]))
    clock.advance(timedelta(hours=1))
    assert engine.refresh() == 1
    assert source.calls[-1] == ["new"]
    model = engine.fitted
    assert model is not None and model is not first
    assert len(model.universal_ids) == len(PEAKS) + 1
    assert int(hour_of_day(int(np.argmax(_row(model, "new"))))) == 19
    np.testing.assert_array_equal(model.segment_profiles, first.segment_profiles)
    np.testing.assert_array_equal(model.hour_rate[: len(PEAKS)], first.hour_rate)

    clock.advance(timedelta(seconds=engine.full_fit_seconds))
    assert engine.refresh() == len(PEAKS) + 1  # a day on: a full fit again
    assert source.calls[-1] is None
    assert engine.refresh(full=True) == len(PEAKS) + 1


def test_recipient_index_finds_ids_and_grows() -> None:
    ids = ["sf_b", "sf_a", "ünï", "sf_c0000000000000"]
    index = RecipientIndex(ids)
    assert len(index) == 4 and list(index) == ids and index == ids
    assert index[2] == "ünï" and index[-1] == "sf_c0000000000000" and index[1:3] == ids[1:3]
    assert index.rows(["sf_a", "nobody", "ünï", "sf_c0000000000000", "sf_", ""]).tolist() == [
        1, -1, 2, 3, -1, -1,
    ]  # fmt: skip
    grown = index.extended(["sf_0", "a_much_longer_identifier_than_the_others"])
    assert list(grown) == [*ids, "sf_0", "a_much_longer_identifier_than_the_others"]
    assert grown.rows(["a_much_longer_identifier_than_the_others", "sf_b"]).tolist() == [5, 0]
    assert "sf_0" in grown and "sf_0" not in index
    assert RecipientIndex().rows(["x"]).tolist() == [-1]


def test_curve_model_stores_float32_factors_and_small_rows() -> None:
    evidence, now = history(PEAKS)
    model = fit_curves(evidence, now, CONFIG, "v")
    assert model.hour_rate.dtype == np.float32 and model.minute_factor.dtype == np.float32
    assert model.nbytes / len(model.universal_ids) < 1_100


@pytest.mark.parametrize("fit_users", [6, 1000])
def test_segments_fitted_on_a_sample_still_score_every_recipient(fit_users: int) -> None:
    evidence, _ = history(PEAKS)
    n = len(evidence.universal_ids)
    how = (evidence.delivered_minute + 3 * 1440) % 10080 // 60
    idx = evidence.user_index * 168 + how
    ex = np.bincount(idx, minlength=n * 168).reshape(n, 168).astype(np.float64)
    en = np.bincount(idx, weights=evidence.clicked * 1.0, minlength=n * 168).reshape(n, 168)
    prior = np.full(168, en.sum() / ex.sum())
    seg = fit_segments(en, ex, prior, k=2, strength=5.0, kernel=(0.2, 0.6, 0.2), seed=1,
                       fit_users=fit_users)  # fmt: skip
    assert seg.resp.shape == (n, 2)
    main = seg.resp.argmax(axis=1)
    assert len(set(main[:8])) == 1 and len(set(main[8:])) == 1 and main[0] != main[8]


class _Blind(MemorySource):
    """A source that cannot say who has new evidence."""

    def changed_since(self, watermark: int) -> tuple[list[str], int]:
        raise NotImplementedError("no watermark here")


def test_the_live_source_passes_the_incremental_calls_through_or_says_it_cannot() -> None:
    evidence, end = history(PEAKS | {"new": (19,)})
    inner = _Growing(_subset(evidence, list(PEAKS)))
    clock = ManualClock(from_epoch_minute(end))
    live = LiveSource(inner, LiveContexts())
    engine = TimingEngine(live, MemoryExplanations(), HeuristicLatency(), config=CONFIG,
                          clock=clock)  # fmt: skip
    engine.refresh()
    inner.add(_subset(evidence, ["new"]))
    assert engine.refresh() == 1 and inner.calls[-1] == ["new"]

    blind = LiveSource(_Blind(evidence), LiveContexts())
    with pytest.raises(NotImplementedError):
        blind.changed_since(0)
    engine = TimingEngine(blind, MemoryExplanations(), HeuristicLatency(), config=CONFIG,
                          clock=clock)  # fmt: skip
    engine.refresh()
    assert engine.refresh() == len(PEAKS) + 1  # it cannot say who changed: a full fit
