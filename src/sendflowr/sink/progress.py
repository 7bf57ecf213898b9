"""Running totals of a sink, and the periodic progress line with per-partition lag."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaException, TopicPartition

from sendflowr.progress import format_duration
from sendflowr.sink.metrics import SinkMetrics

__all__ = ["REPORT_EVERY", "Progress", "SinkStats", "progress_line"]

_log = logging.getLogger("sendflowr.sink")

#: Seconds between two progress lines.
REPORT_EVERY = 10.0


@dataclass
class SinkStats:
    """Running totals of one sink instance."""

    stored: int = 0
    duplicates: int = 0
    dead_letters: int = 0
    batches: int = 0
    assigned_at: float | None = None
    """``time.monotonic()`` of the first partition assignment."""
    first_record_at: float | None = None
    """``time.monotonic()`` when the first record arrived."""


def progress_line(stats: SinkStats, rate: float, lags: Mapping[int, int]) -> str:
    """``sink progress: …``: totals, rows/s since the last line, lag per partition and,
    while there is lag and rows flow, when it will be caught up at this rate (ETA)."""
    behind = sum(lags.values())
    eta = f", ETA {format_duration(behind / rate)}" if behind and rate > 0 else ""
    return (
        f"sink progress: {stats.stored} stored ({rate:.0f} rows/s), {stats.duplicates} "
        f"duplicates, {stats.dead_letters} dead letters, lag {dict(sorted(lags.items()))}{eta}"
    )


class Progress:
    """Logs ``sink progress: …`` every ``REPORT_EVERY`` seconds and sets the lag gauges.

    Lag is the high watermark (as last fetched, no broker round trip) minus
    the offset the sink committed.
    """

    def __init__(self, topic: str, stats: SinkStats, metrics: SinkMetrics) -> None:
        self._topic = topic
        self._stats = stats
        self._metrics = metrics
        self._last = time.monotonic()
        self._last_stored = 0
        self.lags: dict[int, int] = {}

    def forget(self, partition: int) -> None:
        """Stop reporting ``partition`` (revoked or lost)."""
        self.lags.pop(partition, None)
        try:
            self._metrics.lag.remove(str(partition))
        except KeyError:
            pass

    def report(
        self, consumer: Consumer, committed: Mapping[int, int], *, force: bool = False
    ) -> None:
        """Refresh lag and log a line if due (or ``force``)."""
        now = time.monotonic()
        if not force and now - self._last < REPORT_EVERY:
            return
        lags: dict[int, int] = {}
        for partition, offset in list(committed.items()):
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(self._topic, partition), cached=True
                )
            except (KafkaException, RuntimeError):
                continue
            if high >= 0:
                lags[partition] = max(high - offset, 0)
                self._metrics.lag.labels(str(partition)).set(lags[partition])
        self.lags = lags
        stats = self._stats
        rate = (stats.stored - self._last_stored) / max(now - self._last, 1e-9)
        if force or stats.stored != self._last_stored or any(lags.values()):
            _log.info("%s", progress_line(stats, rate, lags))
        self._last = now
        self._last_stored = stats.stored
