"""The closed loop: simulated days in steps (default an hour), each arm sending its own way.

Day by day (00:00 UTC): every event before now is released into the ``Feed``
(in production order: connector → Kafka → sink → ClickHouse, so the engine
learns from what it caused); each strategy decides its sends of the day with
the day as the window. Then the day runs in steps: before a live strategy's
send fires, the events up to the step are released and the strategy is asked
again (window from the step on: it may keep, move or cancel the send); every
send that fires in the step gets its outcome from the behaviour model
(``Responder``), whose events wait in a buffer until their time comes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from sendflowr.clock import ManualClock
from sendflowr.experiment.design import ARMS, Design, assign_arms
from sendflowr.experiment.responses import Outcomes, Responder
from sendflowr.experiment.strategies import Strategy
from sendflowr.generator.block import EVENT_CODES, EventBlock, concat_blocks
from sendflowr.generator.live import EventBuffer
from sendflowr.generator.model import DAY_MS, HOUR_MS, MINUTE_MS

__all__ = ["Feed", "MemoryFeed", "Run", "run_loop"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class Feed(Protocol):
    """Where the simulation's events go so the strategies can learn from them."""

    def publish(self, block: EventBlock) -> None:
        """Send events (in time order)."""

    def sync(self) -> None:
        """Return once everything published is visible to readers."""


@dataclass
class MemoryFeed:
    """Keeps the events in memory; also an ``EngagementHistory`` over them (tests)."""

    universal_ids: list[str]
    blocks: list[EventBlock] = field(default_factory=list)

    def publish(self, block: EventBlock) -> None:
        """Keep the block."""
        if len(block):
            self.blocks.append(block)

    def sync(self) -> None:
        """Nothing is in flight."""

    def hour_counts(self, now_ms: int) -> dict[str, F64]:
        """Deliveries and engaged deliveries per recipient and UTC hour, up to ``now_ms``."""
        if not self.blocks:
            return {}
        block = concat_blocks(self.blocks)
        known = block.ts <= now_ms
        delivered = known & (block.etype == EVENT_CODES.index("delivered"))
        engaged_codes = [EVENT_CODES.index("opened"), EVENT_CODES.index("clicked")]
        engaged = known & np.isin(block.etype, engaged_codes)
        keys = block.user * 1_000_000 + block.send_seq
        hit = np.isin(keys[delivered], keys[engaged])
        users = block.user[delivered]
        hours = (block.ts[delivered] // HOUR_MS) % 24
        counts = np.zeros((len(self.universal_ids), 2, 24))
        np.add.at(counts, (users, 0, hours), 1.0)
        np.add.at(counts, (users[hit], 1, hours[hit]), 1.0)
        return {self.universal_ids[u]: counts[u] for u in np.unique(users).tolist()}


@dataclass
class Run:
    """Every send of the experiment with its arm and what it earned."""

    design: Design
    arm: I64  # per schedule row: index into ARMS
    fired: npt.NDArray[np.bool_]
    cancelled: npt.NDArray[np.bool_]
    send_ms: I64
    delivered: npt.NDArray[np.bool_]
    opened: npt.NDArray[np.bool_]
    clicked: npt.NDArray[np.bool_]
    expected_click: F64
    expected_open: F64
    suppressed: npt.NDArray[np.bool_]
    after_hot_path: npt.NDArray[np.bool_]
    timings: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def store(self, out: Outcomes) -> None:
        """Record fired sends' outcomes."""
        i = out.index
        self.fired[i] = True
        self.send_ms[i] = out.send_ms
        self.delivered[i] = out.delivered
        self.opened[i] = out.opened
        self.clicked[i] = out.clicked
        self.expected_click[i] = out.expected_click
        self.expected_open[i] = out.expected_open
        self.suppressed[i] = out.suppressed
        self.after_hot_path[i] = out.after_hot_path


def _empty_run(design: Design, arm: I64) -> Run:
    n = len(design.schedule)
    no = np.zeros(n, dtype=bool)
    return Run(
        design, arm, no.copy(), no.copy(), np.full(n, -1, dtype=np.int64), no.copy(),
        no.copy(), no.copy(), np.zeros(n), np.zeros(n), no.copy(), no.copy(),
    )  # fmt: skip


def run_loop(
    design: Design,
    strategies: Mapping[str, Strategy],
    feed: Feed,
    *,
    clock: ManualClock | None = None,
    step_minutes: int = 60,
    on_day: Callable[[int, int], None] | None = None,
) -> Run:
    """Run the experiment over ``design``; ``strategies`` has one entry per name in ARMS.

    ``clock`` (when given) is set to the simulated time before every
    strategy call, so an engine running on it sees the simulation's time.
    """
    missing = [a for a in ARMS if a not in strategies]
    if missing:
        raise ValueError(f"no strategy for arm(s) {missing}")
    schedule = design.schedule
    arm = assign_arms(design.seed, schedule.user, schedule.seq)
    run = _empty_run(design, arm)
    responder = Responder(design.model, design.seed, design.truths)
    buffer = EventBuffer()
    buffer.add(design.exogenous)
    step_ms = step_minutes * MINUTE_MS
    waits = {"release_s": 0.0, "decide_s": 0.0, "respond_s": 0.0}

    def release(until_ms: int) -> None:
        began = time.perf_counter()
        due = buffer.pop_before(until_ms)
        if len(due):
            feed.publish(due)
            feed.sync()
        if clock is not None:
            clock.set_ms(until_ms)
        waits["release_s"] += time.perf_counter() - began

    def decide(strategy: Strategy, index: I64, window: tuple[int, int], now_ms: int) -> I64:
        began = time.perf_counter()
        out = strategy.decide(schedule, index, window, now_ms)
        waits["decide_s"] += time.perf_counter() - began
        return out

    began = time.perf_counter()
    feed.publish(design.warmup)
    feed.sync()
    waits["warmup_s"] = time.perf_counter() - began
    live = np.array([strategies[a].live for a in ARMS])
    for day in range(design.days):
        day_ms = design.start_ms + day * DAY_MS
        window = (day_ms, day_ms + DAY_MS)
        release(day_ms)
        rows = np.flatnonzero(
            (schedule.scheduled_ms >= day_ms) & (schedule.scheduled_ms < day_ms + DAY_MS)
        )
        planned = np.full(len(schedule), -1, dtype=np.int64)
        for a, name in enumerate(ARMS):
            strategies[name].prepare(day_ms)
            index = rows[arm[rows] == a]
            if len(index):
                planned[index] = decide(strategies[name], index, window, day_ms)
        todo = rows[planned[rows] >= 0]
        run.cancelled[rows[planned[rows] < 0]] = True
        for step_start in range(day_ms, day_ms + DAY_MS, step_ms):
            step_end = step_start + step_ms
            due = todo[(planned[todo] >= step_start) & (planned[todo] < step_end)]
            live_due = due[live[arm[due]]]
            if len(live_due):
                release(step_start)
                for a, name in enumerate(ARMS):
                    index = live_due[arm[live_due] == a]
                    if len(index):
                        again = decide(strategies[name], index, (step_start, window[1]), step_start)
                        planned[index] = np.where(again >= 0, np.maximum(again, step_start), -1)
                run.cancelled[live_due[planned[live_due] < 0]] = True
                todo = todo[planned[todo] >= 0]
                due = todo[(planned[todo] >= step_start) & (planned[todo] < step_end)]
            if len(due):
                t0 = time.perf_counter()
                due = due[np.lexsort((schedule.seq[due], schedule.user[due], planned[due]))]
                outcomes, events = responder.respond(schedule, due, planned[due])
                run.store(outcomes)
                buffer.add(events)
                waits["respond_s"] += time.perf_counter() - t0
            todo = todo[~np.isin(todo, due)]
        run.cancelled[todo] = True  # nothing should remain: every answer lies inside the day
        if on_day is not None:
            on_day(day, design.days)
    waits["total_s"] = time.perf_counter() - began
    run.timings = waits
    return run
