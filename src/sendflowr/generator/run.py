"""A generator run: which users over which days, simulated in chunks, fed to an output."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import numpy.typing as npt

from sendflowr.generator.block import EVENT_CODES, EventBlock, concat_blocks
from sendflowr.generator.model import CHANNEL_NAMES, Model
from sendflowr.generator.outputs.base import Output, OutputStats
from sendflowr.generator.population import Shard, user
from sendflowr.generator.simulate import simulate_user
from sendflowr.generator.truth import UserTruth

__all__ = ["Plan", "RunResult", "generate_blocks", "run"]

#: events per block handed to an output (bounded memory, large enough to vectorise).
CHUNK_EVENTS = 50_000


@dataclass(frozen=True, slots=True)
class Plan:
    """What to generate.

    ``count`` None is the full history of ``users`` users (default: the
    world's); with ``count`` users are taken in order (0, 1, 2, …; up to
    ``users`` if given) until ``count`` events exist, and the rest is cut.
    """

    model: Model
    seed: int
    start: date
    end: date
    users: int | None = None
    shard: Shard = field(default_factory=Shard)
    count: int | None = None

    def user_indices(self) -> Iterator[int]:
        """Indices of the users this plan simulates, in order."""
        if self.count is not None and self.users is None:
            source: Iterator[int] = itertools.count()
        else:
            n = self.users if self.users is not None else self.model.world.history.users
            source = iter(range(n))
        return (i for i in source if self.shard.owns(i))


def generate_blocks(
    plan: Plan, chunk_events: int = CHUNK_EVENTS
) -> Iterator[tuple[EventBlock, list[UserTruth]]]:
    """Blocks of about ``chunk_events`` events (whole users, user order) and their truth."""
    blocks: list[EventBlock] = []
    truths: list[UserTruth] = []
    pending = produced = 0
    for index in plan.user_indices():
        block, truth = simulate_user(
            plan.model, user(plan.model, index), plan.seed, plan.start, plan.end
        )
        if plan.count is not None and produced + len(block) >= plan.count:
            block = block.head(plan.count - produced)
            blocks.append(block)
            truths.append(truth)
            yield concat_blocks(blocks), truths
            return
        blocks.append(block)
        truths.append(truth)
        pending += len(block)
        produced += len(block)
        if pending >= chunk_events:
            yield concat_blocks(blocks), truths
            blocks, truths, pending = [], [], 0
    if blocks:
        yield concat_blocks(blocks), truths


@dataclass(slots=True)
class RunResult:
    """Counts of what was generated and what the output did with it."""

    stats: OutputStats
    elapsed: float
    by_type: dict[str, int]
    by_channel: dict[str, int]
    by_persona: dict[str, int]
    users: int
    truths: list[UserTruth]

    @property
    def total(self) -> int:
        """Events generated."""
        return sum(self.by_type.values())


def _add(into: npt.NDArray[np.int64], values: npt.NDArray[np.int64]) -> None:
    into += np.bincount(values, minlength=len(into))[: len(into)]


def run(
    plan: Plan,
    output: Output,
    *,
    keep_truth: bool = False,
    on_progress: Callable[[int], None] | None = None,
    on_truths: Callable[[list[UserTruth]], None] | None = None,
) -> RunResult:
    """Generate ``plan`` into ``output`` (opened and closed here).

    Memory stays that of one chunk whatever the plan's size: each block goes to the
    output before the next is simulated. ``on_truths`` receives each chunk's users'
    truth as it is made (write it as you go); ``keep_truth`` keeps every user's truth
    in the result instead (memory grows with the users: for small runs).
    """
    model = plan.model
    types = np.zeros(len(EVENT_CODES), dtype=np.int64)
    channels = np.zeros(len(CHANNEL_NAMES), dtype=np.int64)
    personas = np.zeros(len(model.persona_names), dtype=np.int64)
    truths: list[UserTruth] = []
    users = 0
    began = time.perf_counter()
    output.open()
    try:
        for block, chunk_truths in generate_blocks(plan):
            output.write(block)
            _add(types, block.etype)
            _add(channels, block.channel)
            _add(personas, model.layout[block.user % len(model.layout)])
            users += len(chunk_truths)
            if keep_truth:
                truths.extend(chunk_truths)
            if on_truths is not None:
                on_truths(chunk_truths)
            if on_progress is not None:
                on_progress(len(block))
    finally:
        output.close()
    return RunResult(
        stats=output.stats,
        elapsed=time.perf_counter() - began,
        by_type={t: int(v) for t, v in zip(EVENT_CODES, types, strict=True)},
        by_channel={c: int(v) for c, v in zip(CHANNEL_NAMES, channels, strict=True)},
        by_persona={p: int(v) for p, v in zip(model.persona_names, personas, strict=True)},
        users=users,
        truths=truths,
    )
