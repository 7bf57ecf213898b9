"""The progress line of long runs: rate, ETA, throttling."""

from __future__ import annotations

import io

from sendflowr.progress import ProgressLine, format_duration


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_durations_read_as_seconds_minutes_hours() -> None:
    assert format_duration(42.4) == "42s"
    assert format_duration(75) == "1m15s"
    assert format_duration(3725) == "1h02m"
    assert format_duration(-3) == "0s"


def test_rate_and_eta_come_from_the_work_done_so_far() -> None:
    clock, out = _Clock(), io.StringIO()
    bar = ProgressLine("load", 1_000, stream=out, clock=clock, every=5)
    clock.t += 10
    bar.advance(250)  # 25/s → 750 left take 30 s
    assert out.getvalue() == "load: 250 / 1,000 events (25%), 25 events/s, elapsed 10s, ETA 30s\n"


def test_lines_are_throttled_and_the_last_one_is_always_printed() -> None:
    clock, out = _Clock(), io.StringIO()
    bar = ProgressLine("gen", None, stream=out, clock=clock, every=5)
    for _ in range(10):
        clock.t += 1
        bar.advance(10)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3  # at 5 s, at 10 s, and close
    assert lines[-1] == "gen: 100 events, 10 events/s, elapsed 10s"
    assert "ETA" not in lines[-1]  # unknown total


def test_a_disabled_line_prints_nothing_but_counts() -> None:
    out = io.StringIO()
    bar = ProgressLine("x", 10, stream=out, enabled=False, every=0)
    bar.advance(4)
    bar.close()
    assert out.getvalue() == "" and bar.done == 4
