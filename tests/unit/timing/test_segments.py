"""Behaviour segments: EM recovers groups, activity hours help, profiles keep weekend-only lifts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from sendflowr.timing.curves import CurveConfig, Evidence, fit_curves
from sendflowr.timing.segments import _activity_profiles, _profiles, fit_segments
from tests.unit.timing.synthetic import history


def _cells(evidence: Evidence) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    n = len(evidence.universal_ids)
    how = (evidence.delivered_minute + 3 * 1440) % 10080 // 60
    idx = evidence.user_index * 168 + how
    ex = np.bincount(idx, minlength=n * 168).reshape(n, 168).astype(np.float64)
    en = (
        np.bincount(idx, weights=evidence.clicked * 1.0, minlength=n * 168)
        .reshape(n, 168)
        .astype(np.float64)
    )
    return en, ex


def test_em_puts_each_group_in_its_own_segment() -> None:
    peaks: dict[str, tuple[int, ...]] = {f"m{i}": (8,) for i in range(10)}
    peaks |= {f"e{i}": (19,) for i in range(10)}
    evidence, _ = history(peaks)
    en, ex = _cells(evidence)
    prior = np.full(168, en.sum() / ex.sum())
    seg = fit_segments(en, ex, prior, k=2, strength=5.0, kernel=(0.2, 0.6, 0.2), seed=3)
    main = seg.resp.argmax(axis=1)
    assert len(set(main[:10])) == 1 and len(set(main[10:])) == 1
    assert main[0] != main[10]
    assert seg.resp.max(axis=1).min() > 0.9
    for group, hour in ((main[0], 8), (main[10], 19)):
        profile = seg.profiles[group].reshape(7, 24)
        assert int(profile[:5].mean(axis=0).argmax()) == hour


def test_profiles_can_lift_an_hour_on_weekends_only() -> None:
    # One segment whose engagement rises at 14h on Saturday and Sunday only.
    rate = np.full((7, 24), 0.2)
    rate[5:, 14] = 0.8
    ex = np.full((1, 168), 50.0)
    en = ex * rate.reshape(1, 168)
    prof = _profiles(np.ones((1, 1)), en, ex, 1.0, (0.0, 1.0, 0.0))
    p = prof.reshape(7, 24)
    assert p[5, 14] > 0.7 and p[6, 14] > 0.7
    assert p[0, 14] < 0.3  # a weekday at 14h stays at the baseline
    assert abs(p[2, 9] - 0.2) < 0.05


def test_activity_signals_pull_users_into_the_right_segment() -> None:
    # Deliveries alone leave some users in the wrong segment; browsing hours fix that.
    peaks: dict[str, tuple[int, ...]] = {f"m{i}": (9,) for i in range(12)}
    peaks |= {f"e{i}": (20,) for i in range(12)}
    evidence, now = history(peaks, weeks=12, sends_per_day=2, peak_rate=0.3, base_rate=0.1)
    rng = np.random.default_rng(1)
    idx, minutes = [], []
    for u, uid in enumerate(evidence.universal_ids):
        hour = 9 if uid.startswith("m") else 20
        for d in range(10):
            idx.append(u)
            minutes.append(now - (d + 1) * 1440 - (24 - hour) * 60 + int(rng.integers(60)))
    with_activity = Evidence(
        **{**evidence.__dict__, "activity_index": np.asarray(idx, dtype=np.int64),
           "activity_minute": np.asarray(minutes, dtype=np.int64)}
    )  # fmt: skip
    config = CurveConfig(segments=2)
    blind = fit_curves(evidence, now, config, "blind")
    seen = fit_curves(with_activity, now, config, "seen")

    def right(model: object) -> float:
        curves = model.curves(model.rows(list(peaks)))  # type: ignore[attr-defined]
        hours = (curves.argmax(axis=1) % 1440) // 60
        want = np.asarray([peaks[u][0] for u in peaks])
        return float(np.mean(np.abs(hours - want) <= 1))

    assert right(blind) < 0.9
    assert right(seen) >= 0.95


def test_activity_profiles_do_not_leak_into_neighbouring_hours() -> None:
    # A lunch-like segment browses 11–14 h only; a 9–16 h user browsing at 10 h or 15 h
    # must count as evidence against it, not for it (the weekend-vs-lunch confusion).
    activity = np.zeros((2, 24))
    activity[0, 11:15] = 10.0
    activity[1, 9:17] = 5.0
    prof = _activity_profiles(np.eye(2), activity, 0.1)
    lunch, wide = prof
    assert lunch[10] < 0.01 and lunch[15] < 0.01
    assert lunch[12] > 0.2
    # A 9–16 h user's browsing at 10 h and 15 h favours the wide segment by a wide margin.
    assert np.log(wide[10] / lunch[10]) + np.log(wide[15] / lunch[15]) > 5.0
    assert abs(prof.sum(axis=1) - 1.0).max() < 1e-12


def test_no_evidence_at_all_gives_a_flat_positive_curve() -> None:
    empty = Evidence([], np.zeros(0, np.int64), np.zeros(0, np.int64),
                     np.zeros(0, bool), np.zeros(0, bool))  # fmt: skip
    model = fit_curves(empty, 29_000_000, CurveConfig(), "empty")
    curve = model.curves(model.rows(["anyone"]))[0]
    assert (curve > 0).all()


def test_hours_nothing_is_sent_in_peak_inside_the_awake_span_not_at_its_edge() -> None:
    # Sends only 06–22 h; the segment browses 01–05 h, with chance doubling the count at
    # 05 h (one seed's night_shift: 26, 28, 23, 25, 49). Browsing says when people are
    # around, not which of those hours is best: the lift belongs inside the span (02–04 h),
    # not at the hour where a sent hour's rate also leaks in.
    ex = np.zeros((1, 7, 24))
    ex[:, :, 6:23] = 40.0
    en = ex * 0.3
    en[:, :, 6] = ex[:, :, 6] * 0.36  # 06 h is somewhat better than the other sent hours
    act = np.zeros((1, 24))
    act[0, 1:6] = [26, 28, 23, 25, 49]
    act = (act + 0.1) / (act + 0.1).sum()
    prof = _profiles(np.ones((1, 1)), en.reshape(1, 168), ex.reshape(1, 168), 5.0,
                     (0.25, 0.5, 0.25), act, 3.0)  # fmt: skip
    night = prof.reshape(7, 24)[:, :6].mean(axis=0)
    assert int(night.argmax()) in (2, 3, 4)
    assert night[3] > prof.reshape(7, 24)[:, 6:].max()  # the awake span beats every sent hour
