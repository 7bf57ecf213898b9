"""Live mode: the world run forward on a clock, each event released when it happens.

The behaviour model is the generator's own: events are generated a window
(default one week) at a time through ``simulate_user`` — every user's seeded
stream, spawned from a seed derived from the run's seed and the window's index
— and held in a time-ordered buffer; ``LiveRun`` releases whatever the clock
has reached into an ``Output``. An event that spills past its window (an open
48 hours after the send) waits in the buffer with the next window's events.

Clocks (``sendflowr.clock.Clock``: ``now()``):

- ``SimClock`` maps wall time to simulated time at ``speed`` simulated seconds
  per wall second (``speed=None`` is "as fast as the pipeline takes");
- ``sendflowr.clock.ManualClock`` is set by its owner (tests, the closed-loop
  experiment, and the engine's clock when it runs on simulated time).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from sendflowr.generator.block import EventBlock, concat_blocks, empty_block
from sendflowr.generator.model import DAY_MS, Model, date_ms
from sendflowr.generator.outputs.base import Output
from sendflowr.generator.population import Shard, user
from sendflowr.generator.simulate import simulate_user

__all__ = [
    "EventBuffer",
    "LiveRun",
    "LiveSource",
    "LiveStats",
    "SimClock",
    "window_seed",
]


class SimClock:
    """Simulated time from ``start``, ``speed`` simulated seconds per wall second.

    ``wall`` is a monotonic seconds function (injectable for tests).
    """

    def __init__(
        self, start: datetime, speed: float, wall: Callable[[], float] = time.monotonic
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._wall = wall
        self._origin = wall()

    def now(self) -> datetime:
        """Simulated time now."""
        return self.start + timedelta(seconds=(self._wall() - self._origin) * self.speed)

    def wall_seconds_until(self, at: datetime) -> float:
        """Wall seconds until simulated time ``at`` (≤ 0 when it has passed)."""
        return (at - self.now()).total_seconds() / self.speed


def window_seed(seed: int, window: int) -> int:
    """Seed of window ``window``: independent streams per window, all from one seed."""
    return int(np.random.SeedSequence([seed, window]).generate_state(1, np.uint64)[0] >> 1)


@dataclass
class EventBuffer:
    """Events waiting for their time, kept sorted by timestamp (stable)."""

    block: EventBlock = field(default_factory=empty_block)

    def add(self, more: EventBlock) -> None:
        """Merge ``more`` into the buffer."""
        if len(more) == 0:
            return
        merged = concat_blocks([self.block, more])
        self.block = merged.take(np.argsort(merged.ts, kind="stable"))

    def pop_before(self, ms: int) -> EventBlock:
        """Remove and return every event with a timestamp before ``ms``, in time order."""
        cut = int(np.searchsorted(self.block.ts, ms, side="left"))
        out = self.block.head(cut)
        self.block = self.block.take(np.arange(cut, len(self.block)))
        return out

    def __len__(self) -> int:
        return len(self.block)

    @property
    def first_ms(self) -> int | None:
        """Timestamp of the next event, if any."""
        return int(self.block.ts[0]) if len(self.block) else None


class LiveSource:
    """The world's events from ``start`` on, generated a window at a time, in time order.

    Window ``k`` covers days ``[origin + k·window_days, …)`` with
    ``window_seed(seed, k)``; ``origin`` is ``start``'s date, so the same seed
    and start give the same events.
    """

    def __init__(
        self,
        model: Model,
        seed: int,
        start: datetime,
        *,
        users: int | None = None,
        shard: Shard | None = None,
        window_days: int = 7,
    ) -> None:
        self.model = model
        self.seed = seed
        self.start_ms = int(start.timestamp() * 1000)
        self.origin = start.astimezone(UTC).date()
        self.users = users if users is not None else model.world.history.users
        self.shard = shard or Shard()
        self.window_days = window_days
        self._buffer = EventBuffer()
        self._next_window = 0

    @property
    def generated_until_ms(self) -> int:
        """Events before this time are all generated (later ones may still come).

        Windows are cut at local midnights: a recipient east of UTC lives a window's
        first hours before its UTC start, so one day's margin covers every zone."""
        return date_ms(self.origin) + self._next_window * self.window_days * DAY_MS - DAY_MS

    def _generate_window(self) -> None:
        k = self._next_window
        first = self.origin + timedelta(days=k * self.window_days)
        last = first + timedelta(days=self.window_days)
        blocks = [
            simulate_user(self.model, user(self.model, i), window_seed(self.seed, k), first, last)[
                0
            ]
            for i in range(self.users)
            if self.shard.owns(i)
        ]
        block = concat_blocks(blocks)
        self._buffer.add(block.take(block.ts >= self.start_ms))
        self._next_window += 1

    def take_until(self, ms: int) -> EventBlock:
        """Every event with a timestamp before ``ms`` not taken yet, in time order."""
        while self.generated_until_ms <= ms:
            self._generate_window()
        return self._buffer.pop_before(ms)

    def next_event_ms(self) -> int:
        """Timestamp of the next event (generating ahead as needed)."""
        while len(self._buffer) == 0 or (self._buffer.first_ms or 0) >= self.generated_until_ms:
            self._generate_window()
        first = self._buffer.first_ms
        assert first is not None
        return first


@dataclass
class LiveStats:
    """What a live run released."""

    events: int = 0
    sim_ms: int = 0
    wall_seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        """Released events per wall second."""
        return self.events / self.wall_seconds if self.wall_seconds > 0 else 0.0


class LiveRun:
    """Releases ``source``'s events into ``sink`` as simulated time reaches them.

    ``speed`` None is "max": each step releases the next ``step_ms`` of
    simulated time without waiting. ``stop()`` (e.g. from a SIGINT handler)
    ends the run between two releases, so no batch is ever half-sent; the sink
    is closed (flushed) before ``run`` returns.
    """

    def __init__(
        self,
        source: LiveSource,
        sink: Output,
        *,
        start: datetime,
        speed: float | None,
        until: datetime | None = None,
        tick_seconds: float = 0.2,
        step_ms: int = 3_600_000,
        wall: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self.sink = sink
        self.start = start.astimezone(UTC)
        self.speed = speed
        self.until = until
        self.tick_seconds = tick_seconds
        self.step_ms = step_ms
        self._wall = wall
        self._sleep = sleep
        self._stop = threading.Event()
        self.stats = LiveStats(sim_ms=int(self.start.timestamp() * 1000))

    def stop(self) -> None:
        """Ask the run to end after the release in progress."""
        self._stop.set()

    def run(self, on_progress: Callable[[LiveStats], None] | None = None) -> LiveStats:
        """Run until ``until`` or ``stop()``; returns what was released."""
        until_ms = int(self.until.timestamp() * 1000) if self.until is not None else None
        clock = SimClock(self.start, self.speed or 1.0, self._wall)
        began = self._wall()
        sim_ms = self.stats.sim_ms
        self.sink.open()
        try:
            while not self._stop.is_set():
                if self.speed is None:
                    sim_ms += self.step_ms
                else:
                    sim_ms = int(clock.now().timestamp() * 1000)
                if until_ms is not None:
                    sim_ms = min(sim_ms, until_ms)
                block = self.source.take_until(sim_ms)
                if len(block):
                    self.sink.write(block)
                self.stats.events += len(block)
                self.stats.sim_ms = sim_ms
                self.stats.wall_seconds = self._wall() - began
                if on_progress is not None:
                    on_progress(self.stats)
                if until_ms is not None and sim_ms >= until_ms:
                    break
                if self.speed is not None:
                    self._sleep(self.tick_seconds)
        finally:
            self.sink.close()
            self.stats.wall_seconds = self._wall() - began
        return self.stats
