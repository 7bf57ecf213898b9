"""The sink's progress line: rate, lag per partition, and an ETA while it catches up."""

from __future__ import annotations

from sendflowr.sink.progress import SinkStats, progress_line


def test_the_line_gives_the_time_to_catch_up_at_the_current_rate() -> None:
    stats = SinkStats(stored=1_000_000, duplicates=3, dead_letters=1)
    line = progress_line(stats, 20_000.0, {1: 600_000, 0: 600_000})
    assert line.startswith("sink progress: 1000000 stored (20000 rows/s), 3 duplicates")
    assert "lag {0: 600000, 1: 600000}" in line
    assert line.endswith("ETA 1m00s")  # 1.2M behind at 20,000 rows/s


def test_no_eta_when_caught_up_or_stalled() -> None:
    stats = SinkStats(stored=10)
    assert "ETA" not in progress_line(stats, 5_000.0, {0: 0, 1: 0})
    assert "ETA" not in progress_line(stats, 0.0, {0: 500})
