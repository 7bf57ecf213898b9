"""Runs: the best minute of factored curves equals the dense array's argmax, exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from sendflowr.timing.grid import epoch_minute
from sendflowr.timing.runs import Runs
from sendflowr.timing.zones import local_slots


def _factors(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(seed)
    hours = rng.gamma(2.0, 0.05, (n, 168)).astype(np.float32)
    minutes = rng.gamma(5.0, 0.2, (n, 60)).astype(np.float32)
    hours[0] = 0.01  # a flat curve: ties everywhere, the first candidate wins
    minutes[0] = 1.0
    minutes[1, 10:13] = minutes[1].max()  # ties inside a run
    floor = (0.02 * hours.mean(axis=1) * minutes.mean(axis=1)).astype(np.float32)
    return hours, minutes, floor


def _dense(h: np.ndarray, m: np.ndarray, f: np.ndarray, slots: np.ndarray) -> np.ndarray:  # type: ignore[type-arg]
    out = h[:, slots // 60] * m[:, slots % 60]
    out += f[:, None]
    return out  # type: ignore[no-any-return]


def _windows() -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    start = epoch_minute(datetime(2025, 10, 29, 13, 17, tzinfo=UTC))
    week = np.arange(start, start + 7 * 1440, dtype=np.int64)
    utc = (week + 3 * 1440) % 10080
    quiet = utc[(utc % 1440 < 21 * 60) & (utc % 1440 >= 8 * 60 + 30)]  # partial runs each day
    gappy = utc[np.random.default_rng(3).random(utc.shape[0]) > 0.3]  # holes everywhere
    return {
        "a week from 13:17": utc,
        "quiet hours": quiet,
        "holes": gappy,
        "New York across its DST end": local_slots(week, "America/New_York"),
        "Kolkata (+05:30)": local_slots(week, "Asia/Kolkata"),
        "four weeks": (np.arange(start, start + 28 * 1440) + 3 * 1440) % 10080,
        "one minute": utc[:1],
        "ninety minutes": utc[40:130],
    }


@pytest.mark.parametrize("name", list(_windows()))
def test_best_is_the_dense_argmax_and_its_value(name: str) -> None:
    slots = _windows()[name]
    h, m, f = _factors(300, seed=len(name))
    dense = _dense(h, m, f, slots)
    best, top, mean = Runs.of(slots).best(h, m, f)
    np.testing.assert_array_equal(best, dense.argmax(axis=1))
    np.testing.assert_array_equal(top, dense.max(axis=1))
    np.testing.assert_allclose(mean, dense.astype(np.float64).mean(axis=1), rtol=1e-6)


def test_runs_never_span_two_hours_or_a_gap() -> None:
    slots = _windows()["New York across its DST end"]
    runs = Runs.of(slots)
    for start, length, hour, minute in zip(
        runs.start, runs.length, runs.hour, runs.minute, strict=True
    ):
        part = slots[start : start + length]
        assert (part // 60 == hour).all()
        np.testing.assert_array_equal(part % 60, np.arange(minute, minute + length))
    assert int(runs.length.sum()) == slots.shape[0] == runs.size


@pytest.mark.parametrize("k", [1, 33, 82, 400])
@pytest.mark.parametrize(
    "name", ["a week from 13:17", "quiet hours", "New York across its DST end"]
)
def test_top_holds_the_k_best_values(name: str, k: int) -> None:
    slots = _windows()[name]
    h, m, f = _factors(200, seed=k)
    h[2] = h[2, 0]  # equal hour rates: run maxima tie, the row is read in full
    dense = _dense(h, m, f, slots)
    runs = Runs.of(slots)
    cols, vals = runs.top(h, m, f, k)
    np.testing.assert_array_equal(np.take_along_axis(dense, cols, axis=1), vals)
    np.testing.assert_array_equal(np.sort(vals, axis=1), np.sort(dense, axis=1)[:, -k:])
    at = np.arange(200) % slots.shape[0]
    np.testing.assert_array_equal(runs.value_at(h, m, f, at), dense[np.arange(200), at])


@pytest.mark.parametrize("name", list(_windows()))
def test_values_equal_the_dense_window_and_are_row_major(name: str) -> None:
    slots = _windows()[name]
    h, m, f = _factors(30, 8)
    values = Runs.of(slots).values(h, m, f)
    assert values.flags["C_CONTIGUOUS"] and values.dtype == np.float32
    assert np.array_equal(values, _dense(h, m, f, slots))
