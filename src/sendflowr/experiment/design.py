"""The experiment's design: the simulated world split into a warm-up and a schedule of sends,
and the seeded assignment of each send to an arm.

One simulation per user covers warm-up and experiment (``simulate_user`` over
the whole span, the generator's own streams), so drift, hot paths and circuit
breakers continue across the boundary. Everything before the experiment starts
is the warm-up history; in the experiment, the signals (hot paths, circuit
breakers) stay as simulated — they do not depend on when anyone sends — while
the simulated sends become the *schedule*: each is one campaign send to one
recipient, and its arm decides when it really goes out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from sendflowr.generator.block import EVENT_CODES, EventBlock, concat_blocks
from sendflowr.generator.model import DAY_MS, Model, date_ms
from sendflowr.generator.population import user
from sendflowr.generator.simulate import simulate_user
from sendflowr.generator.truth import UserTruth

__all__ = ["ARMS", "Design", "Schedule", "assign_arms", "build_design"]

#: The arms, in report order.
ARMS: Final = ("fixed", "hourly", "sendflowr", "oracle")

I64 = npt.NDArray[np.int64]
_SENT = EVENT_CODES.index("sent")
_MASK64 = (1 << 64) - 1


@dataclass(frozen=True)
class Schedule:
    """The experiment's campaign sends (one row each), ordered by scheduled time."""

    user: I64
    seq: I64  # the user's message number (its message id)
    scheduled_ms: I64  # the campaign's scheduled send time
    campaign: I64
    provider: I64
    channel: I64
    payload: I64

    def __len__(self) -> int:
        return len(self.user)


@dataclass(frozen=True)
class Design:
    """Warm-up events, the events the experiment does not change, the schedule, the truth."""

    model: Model
    seed: int
    start_ms: int  # first experiment instant (00:00 UTC of the start day)
    end_ms: int
    warmup: EventBlock  # every event before start_ms
    exogenous: EventBlock  # after start_ms: signals, and engagement of warm-up messages
    schedule: Schedule
    truths: list[UserTruth]

    @property
    def days(self) -> int:
        """Days of the experiment."""
        return (self.end_ms - self.start_ms) // DAY_MS

    def universal_ids(self) -> list[str]:
        """universal_id of every user (index order)."""
        return [t.universal_id for t in self.truths]


def build_design(
    model: Model, seed: int, users: int, warmup_start: date, start: date, weeks: int
) -> Design:
    """Simulate ``users`` over ``[warmup_start, start + weeks)`` and split it."""
    end = start + timedelta(days=7 * weeks)
    start_ms, end_ms = date_ms(start), date_ms(end)
    blocks: list[EventBlock] = []
    truths: list[UserTruth] = []
    for i in range(users):
        block, truth = simulate_user(model, user(model, i), seed, warmup_start, end)
        blocks.append(block)
        truths.append(truth)
    everything = concat_blocks(blocks)
    # Messages sent before the start keep all their events; later ones are the schedule.
    old = everything.send_ms < start_ms  # signals have send_ms -1
    kept = everything.take(old)
    warm = kept.ts < start_ms
    warmup = kept.take(warm)
    exogenous = kept.take(~warm)
    exogenous = exogenous.take(np.argsort(exogenous.ts, kind="stable"))
    sent = everything.take((everything.etype == _SENT) & ~old & (everything.send_ms < end_ms))
    order = np.lexsort((sent.send_seq, sent.user, sent.send_ms))
    sent = sent.take(order)
    schedule = Schedule(
        user=sent.user,
        seq=sent.send_seq,
        scheduled_ms=sent.send_ms,
        campaign=sent.campaign,
        provider=sent.provider,
        channel=sent.channel,
        payload=sent.payload,
    )
    return Design(model, seed, start_ms, end_ms, warmup, exogenous, schedule, truths)


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser, vectorised (wrapping uint64 arithmetic)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def assign_arms(seed: int, user_index: I64, seq: I64, arms: int = len(ARMS)) -> I64:
    """Arm of each send: a seeded hash of (seed, user, message number), uniform over ``arms``.

    A send's arm depends on nothing else (not on other sends, not on order), so
    the same seed gives the same assignment for any subset of sends.
    """
    s = np.full(len(user_index), seed & _MASK64, dtype=np.uint64)
    with np.errstate(over="ignore"):
        h = _mix(s ^ np.uint64(0x9E3779B97F4A7C15))
        h = _mix(h ^ user_index.astype(np.uint64))
        h = _mix(h ^ (seq.astype(np.uint64) * np.uint64(0xD1B54A32D192ED03)))
    return np.asarray(h % np.uint64(arms), dtype=np.int64)
