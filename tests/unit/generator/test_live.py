"""Live mode: events in time order, on an injected clock, stopping cleanly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from sendflowr.clock import ManualClock
from sendflowr.generator import model_for
from sendflowr.generator.block import EventBlock
from sendflowr.generator.live import LiveRun, LiveSource, SimClock
from sendflowr.generator.outputs.base import OutputStats

START = datetime(2026, 1, 10, 6, 30, tzinfo=UTC)


class _Collect:
    name = "collect"

    def __init__(self) -> None:
        self.stats = OutputStats()
        self.blocks: list[EventBlock] = []
        self.closed = False

    def open(self) -> None:
        pass

    def write(self, block: EventBlock) -> None:
        self.blocks.append(block)
        self.stats.sent += len(block)

    def close(self) -> None:
        self.closed = True


def _ts(sink: _Collect) -> np.ndarray:
    return np.concatenate([b.ts for b in sink.blocks]) if sink.blocks else np.empty(0)


def test_max_speed_releases_every_event_in_time_order_within_the_period() -> None:
    sink = _Collect()
    until = START + timedelta(days=9)
    source = LiveSource(model_for(None), 42, START, users=30)
    stats = LiveRun(source, sink, start=START, speed=None, until=until).run()
    ts = _ts(sink)
    assert stats.events == len(ts) > 100
    assert (np.diff(ts) >= 0).all()
    assert ts[0] >= START.timestamp() * 1000
    assert ts[-1] < until.timestamp() * 1000
    assert sink.closed


def test_same_seed_same_events_and_weeks_differ() -> None:
    def events(seed: int) -> np.ndarray:
        sink = _Collect()
        source = LiveSource(model_for(None), seed, START, users=10)
        LiveRun(source, sink, start=START, speed=None, until=START + timedelta(days=14)).run()
        return _ts(sink)

    first = events(1)
    assert np.array_equal(first, events(1))
    assert not np.array_equal(first, events(2))
    day = 86_400_000
    week1 = (first[first < first[0] + 7 * day] - first[0]) % (7 * day)
    week2 = (first[first >= first[0] + 7 * day] - first[0]) % (7 * day)
    assert not np.array_equal(np.sort(week1)[:20], np.sort(week2)[:20])


def test_real_time_follows_the_clock_and_stop_ends_between_batches() -> None:
    wall = [0.0]
    sink = _Collect()
    run: LiveRun

    def sleep(seconds: float) -> None:
        wall[0] += seconds
        if wall[0] >= 60:  # one simulated hour a wall second: stop after ~60 hours
            run.stop()

    source = LiveSource(model_for(None), 42, START, users=30)
    run = LiveRun(
        source, sink, start=START, speed=3600, wall=lambda: wall[0], sleep=sleep, tick_seconds=1.0
    )
    stats = run.run()
    assert sink.closed
    ts = _ts(sink)
    assert stats.sim_ms == int((START + timedelta(hours=59)).timestamp() * 1000)
    assert (ts < stats.sim_ms).all()
    assert (np.diff(ts) >= 0).all()


def test_clocks() -> None:
    wall = [10.0]
    clock = SimClock(START, 60, wall=lambda: wall[0])
    wall[0] += 2
    assert clock.now() == START + timedelta(minutes=2)
    manual = ManualClock(START)
    manual.set_ms(0)
    assert manual.now() == datetime(1970, 1, 1, tzinfo=UTC)
