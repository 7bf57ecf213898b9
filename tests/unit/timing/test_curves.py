"""Response curves: they recover each user's best hours, shrink thin evidence, cold-start."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sendflowr.timing.curves import (
    CurveConfig,
    CurveModel,
    Evidence,
    _signal_share,
    _smooth_hours,
    _spread_ties,
    fit_curves,
)
from sendflowr.timing.grid import hour_of_day, hourly_projection, weekday
from sendflowr.timing.segments import _pool_days
from tests.unit.timing.synthetic import history


def _fit(peaks: dict[str, tuple[int, ...]], **kw: object) -> object:
    evidence, now = history(peaks, **kw)  # type: ignore[arg-type]
    return fit_curves(evidence, now, CurveConfig(segments=4), "test"), evidence


def test_curves_peak_in_each_users_best_hours_on_active_days() -> None:
    peaks = {f"m{i}": (8,) for i in range(10)} | {f"e{i}": (19,) for i in range(10)}
    model, _ = _fit(peaks)
    curves = model.curves(model.rows(list(peaks)))
    for uid, row in zip(peaks, curves, strict=True):
        best = int(np.argmax(row))
        assert int(hour_of_day(best)) in peaks[uid], uid
        assert int(weekday(best)) < 5, uid
        assert int(np.argmax(hourly_projection(row))) in peaks[uid]


def test_cold_start_gets_the_global_curve_and_no_evidence() -> None:
    model, _ = _fit({"a": (9,), "b": (9,)})
    rows = model.rows(["a", "nobody"])
    assert rows.tolist()[1] == -1
    curves = model.curves(rows)
    assert curves.shape == (2, 10080)
    assert (curves > 0).all()
    assert model.evidence_weight(rows)[1] == 0.0
    assert model.evidence_weight(rows)[0] > 0.0


def test_thin_evidence_is_shrunk_toward_the_cohort() -> None:
    # Ten users share the 13h peak; "thin" has one delivery (clicked) at 07h on a Monday,
    # "thin_null" the same delivery without a click.
    peaks = {f"l{i}": (13,) for i in range(10)}
    evidence, now = history(peaks)
    thin_minute = int(evidence.delivered_minute.min()) // 1440 * 1440 + 7 * 60
    merged = Evidence(
        universal_ids=[*evidence.universal_ids, "thin", "thin_null"],
        user_index=np.append(evidence.user_index, [10, 11]),
        delivered_minute=np.append(evidence.delivered_minute, [thin_minute, thin_minute]),
        clicked=np.append(evidence.clicked, [True, False]),
        opened=np.append(evidence.opened, [True, False]),
    )
    model = fit_curves(merged, now, CurveConfig(segments=3), "t")
    thin, null = hourly_projection(model.curves(model.rows(["thin", "thin_null"])))
    assert thin[7] / thin.mean() > null[7] / null.mean()  # its own click counts…
    assert int(np.argmax(thin)) == 13  # …but does not outweigh what the cohort shows
    assert model.evidence_weight(model.rows(["thin"]))[0] < 2.0


def test_recent_evidence_weighs_more_than_old() -> None:
    peaks = {"u": (10,)}
    evidence, now = history(peaks, weeks=6)
    # A new run of clicks at 20h over the last three days.
    extra = np.asarray([now - d * 1440 - 4 * 60 for d in (1, 2, 3)], dtype=np.int64)
    merged = Evidence(
        universal_ids=["u"],
        user_index=np.append(evidence.user_index, np.zeros(3, np.int64)),
        delivered_minute=np.append(evidence.delivered_minute, extra),
        clicked=np.append(evidence.clicked, np.ones(3, bool)),
        opened=np.append(evidence.opened, np.ones(3, bool)),
    )
    short = fit_curves(merged, now, CurveConfig(half_life_hours=72), "s")
    flat = fit_curves(merged, now, CurveConfig(half_life_hours=1e6, recent_strength=1e6), "f")
    h_short = hourly_projection(short.curves(short.rows(["u"]))[0])
    h_flat = hourly_projection(flat.curves(flat.rows(["u"]))[0])
    assert h_short[20] / h_short.mean() > h_flat[20] / h_flat.mean()


def test_circular_smoothing_wraps_sunday_into_monday() -> None:
    values = np.zeros((1, 168))
    values[0, 167] = 1.0  # Sunday 23h
    smooth = _smooth_hours(values, (0.25, 0.5, 0.25))
    assert smooth[0, 0] == 0.25  # Monday 00h
    assert smooth[0, 166] == 0.25
    assert smooth.sum() == 1.0


def test_window_values_equal_the_full_curve_at_those_slots() -> None:
    model, _ = _fit({"a": (9,), "b": (18,)})
    rows = model.rows(["a", "b", "cold"])
    slots = np.asarray([10_079, 0, 1, 540, 5000], dtype=np.int64)
    assert np.allclose(model.window(rows, slots), model.curves(rows)[:, slots])


def _best(model: CurveModel, uid: str) -> tuple[int, int]:
    """(weekday, hour of day) of the user's best minute."""
    best = int(np.argmax(model.curves(model.rows([uid]))[0]))
    return int(weekday(best)), int(hour_of_day(best))


def test_hours_nothing_was_sent_in_are_learned_from_activity() -> None:
    # "n*" engage no more at any sent hour than elsewhere, but are active 02–04 h only;
    # nothing is ever delivered before 06:00.
    peaks: dict[str, tuple[int, ...]] = {f"l{i}": (13,) for i in range(10)}
    peaks |= {f"n{i}": () for i in range(10)}
    active: dict[str, tuple[int, ...]] = {f"l{i}": (12, 13, 14) for i in range(10)}
    active |= {f"n{i}": (2, 3, 4) for i in range(10)}
    evidence, now = history(peaks, active=active, signals_per_week=0.5, base_rate=0.2)
    model = fit_curves(evidence, now, CurveConfig(segments=4), "t")
    for i in range(10):
        assert _best(model, f"n{i}")[1] in (2, 3, 4)
        assert _best(model, f"l{i}")[1] == 13


def test_inactive_days_stay_inactive() -> None:
    # Weekend users and weekday users share the 11 h peak: each keeps its own days.
    peaks = {f"w{i}": (11,) for i in range(10)} | {f"d{i}": (11,) for i in range(10)}
    days: dict[str, tuple[int, ...]] = {f"w{i}": (5, 6) for i in range(10)}
    evidence, now = history(peaks, days=days, weeks=16)
    model = fit_curves(evidence, now, CurveConfig(segments=4), "t")
    for i in range(10):
        assert _best(model, f"w{i}") in ((5, 11), (6, 11)), f"w{i}"
        assert _best(model, f"d{i}")[0] < 5 and _best(model, f"d{i}")[1] == 11, f"d{i}"


def test_stale_history_keeps_its_shape() -> None:
    peaks = {f"m{i}": (8,) for i in range(8)} | {f"e{i}": (19,) for i in range(8)}
    evidence, now = history(peaks)
    fresh = fit_curves(evidence, now, CurveConfig(segments=4), "f")
    stale = fit_curves(evidence, now + 330 * 1440, CurveConfig(segments=4), "s")
    h_fresh = hourly_projection(fresh.curves(fresh.rows(list(peaks))))
    h_stale = hourly_projection(stale.curves(stale.rows(list(peaks))))
    assert (h_stale.argmax(axis=1) == h_fresh.argmax(axis=1)).all()
    sharp = lambda h: h.max(axis=1) / h.mean(axis=1)  # noqa: E731
    assert (sharp(h_stale) >= 0.95 * sharp(h_fresh)).all()
    assert (stale.newest_minute == fresh.newest_minute).all()
    assert (now - stale.newest_minute < 1440).all()


def test_open_times_reveal_hours_nothing_is_sent_in() -> None:
    # "n*" engage no more at any sent hour than elsewhere and never browse, but read their
    # mail at 03 h; nothing is ever delivered before 06:00. Their opens' own times are the
    # only evidence of when they are awake.
    peaks: dict[str, tuple[int, ...]] = {f"l{i}": (13,) for i in range(10)}
    peaks |= {f"n{i}": () for i in range(10)}
    evidence, now = history(peaks, base_rate=0.3)
    hit = np.flatnonzero(evidence.clicked | evidence.opened)
    users = evidence.user_index[hit]
    minutes = evidence.delivered_minute[hit].copy()
    night = users >= 10
    day0 = minutes - minutes % 1440
    minutes[night] = day0[night] + 1440 + 3 * 60 + (hit[night] % 60)  # read at 03 h next day
    minutes[~night] += 5  # the others read at once
    with_opens = replace(evidence, engaged_index=users, engaged_minute=minutes)
    model = fit_curves(with_opens, now, CurveConfig(segments=4), "t")
    for i in range(10):
        assert _best(model, f"n{i}")[1] in (2, 3, 4), f"n{i}"
    # Without their open times nothing places them at night.
    blind = fit_curves(evidence, now, CurveConfig(segments=4), "t")
    assert sum(_best(blind, f"n{i}")[1] in (2, 3, 4) for i in range(10)) < 5


def test_pooled_days_keep_one_lucky_weekday_below_the_weekend() -> None:
    # A weekend segment whose Monday came out high by chance: borrowing from the other
    # weekdays puts it back below Saturday and Sunday, and the weekdays keep their order.
    day = np.array([[0.9, 0.1, 0.2, 0.1, 0.1, 0.8, 0.8]])
    pooled = _pool_days(day, np.ones((1, 7)), 1.0)[0]
    assert pooled[0] < min(pooled[5], pooled[6])
    assert pooled[0] > pooled[2] > pooled[1]
    assert np.allclose(pooled[5:], 0.8)


def test_engagement_times_that_only_echo_the_send_times_add_nothing() -> None:
    # Opens drawn from the expected hours (delays that ignore the clock) are chance
    # departures: shrunk to nothing. Opens piled into a few awake hours are kept.
    rng = np.random.default_rng(5)
    expected = np.tile(np.r_[np.zeros(6), np.full(18, 2.0)], (200, 1))
    noise = rng.poisson(expected).astype(np.float64)
    assert _signal_share(noise, expected) < 0.1
    awake = np.zeros_like(expected)
    awake[:, 20:23] = rng.poisson(12.0, (200, 3))
    assert _signal_share(awake, expected) > 0.5


def _rows(n: int, seed: int = 3) -> np.ndarray:  # type: ignore[type-arg]
    """Minute factors around 1 with a few percent of noise (what thin evidence gives)."""
    return 1.0 + 0.03 * np.random.default_rng(seed).standard_normal((n, 60))


def test_minutes_within_noise_share_their_mean_and_keep_the_row_total() -> None:
    rows = _rows(50)
    keys = np.arange(50, dtype=np.uint64)
    out = _spread_ties(rows, np.full(50, 25.0), keys, 1.0)  # se 20%: everything is noise
    assert np.allclose(out.sum(axis=1), rows.sum(axis=1), rtol=1e-3)
    assert (out.max(axis=1) / out.min(axis=1) < 1.0011).all()  # nudges of ±0.05 %
    assert np.array_equal(_spread_ties(rows, np.full(50, 25.0), keys, 0.0), rows)


def test_each_recipient_breaks_ties_its_own_way_and_always_the_same_way() -> None:
    rows = np.repeat(_rows(1), 200, axis=0)  # one segment: identical factors
    keys = np.arange(200, dtype=np.uint64) * np.uint64(7919)
    best = _spread_ties(rows, np.full(200, 100.0), keys, 1.0).argmax(axis=1)
    assert len(set(best.tolist())) >= 40  # spread over the hour, not one minute for all
    again = _spread_ties(rows, np.full(200, 100.0), keys, 1.0).argmax(axis=1)
    assert np.array_equal(best, again)


def test_a_minute_the_evidence_backs_stays_the_best() -> None:
    rows = _rows(100)
    rows[:, 17] = 1.4  # +40 % against a 3 % standard error: not a tie
    out = _spread_ties(rows, np.full(100, 1000.0), np.arange(100, dtype=np.uint64), 1.0)
    assert (out.argmax(axis=1) == 17).all()
    assert np.allclose(out[:, 17], 1.4, rtol=1e-3)


def test_a_segments_users_spread_over_minutes_the_history_cannot_tell_apart() -> None:
    peaks = {f"u{i}": (13,) for i in range(30)}
    evidence, now = history(peaks)

    def minutes(z: float) -> set[int]:
        model = fit_curves(evidence, now, CurveConfig(segments=2, minute_ties=z), "t")
        best = model.curves(model.rows(list(peaks))).argmax(axis=1)
        assert (hour_of_day(best) == 13).all()  # the hour is the evidence's; only minutes spread
        return set((best % 60).tolist())

    alone = len(minutes(0.0))
    assert len(minutes(CurveConfig().minute_ties)) > alone
    assert len(minutes(1.0)) >= max(10, 3 * alone)
