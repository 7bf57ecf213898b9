"""The synthetic data generator: a seeded simulation of recipients' behaviour.

The behaviour model is described in docs/behaviour-model.md.

In-process contracts other parts use:

- ``sample_events(count, seed)`` — N realistic ``IncomingEvent``s (the connector's
  ``/api/mock/events/generate``);
- ``generate_canonical(world, seed, …)`` — the history as ``CanonicalEvent``s with
  the universal ids the connector would assign; ``generate_arrow`` the same as
  an Arrow table (fast); ``iter_arrow`` the same as a stream of Arrow tables of
  about ``chunk_events`` events each (bounded memory at any size);
- ``generate_truth(world, seed, …)`` — per-user ground truth (persona, drifted
  rates per month, email hash, universal_id, suppressions, hot paths);
- ``expected_click_probability(world, truth, delivered_at)`` — the model's own
  click probability at a delivery time (vectorised over times).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import msgspec
import numpy.typing as npt
import orjson
import pyarrow as pa

from sendflowr.events import CanonicalEvent, IncomingEvent
from sendflowr.generator import engagement as _engagement
from sendflowr.generator.arrow import arrow_table
from sendflowr.generator.block import EVENT_CODES, EventBlock, concat_blocks
from sendflowr.generator.model import Model, compile_world
from sendflowr.generator.population import Shard, parse_shard
from sendflowr.generator.rows import canonical_rows, incoming_rows
from sendflowr.generator.run import CHUNK_EVENTS, Plan, generate_blocks
from sendflowr.generator.truth import UserTruth
from sendflowr.generator.world import World, default_world, load_world

__all__ = [
    "EVENT_CODES",
    "EventBlock",
    "Model",
    "Plan",
    "Shard",
    "UserTruth",
    "World",
    "compile_world",
    "default_world",
    "expected_click_probability",
    "generate_arrow",
    "generate_canonical",
    "generate_truth",
    "iter_arrow",
    "load_world",
    "model_for",
    "parse_shard",
    "sample_events",
]

_MODELS: dict[int, tuple[World, Model]] = {}


def model_for(world: World | Model | None = None) -> Model:
    """The compiled model of ``world`` (default: the shipped world), cached."""
    if isinstance(world, Model):
        return world
    w = world if world is not None else default_world()
    hit = _MODELS.get(id(w))
    if hit is None or hit[0] is not w:
        hit = _MODELS[id(w)] = (w, compile_world(w))
    return hit[1]


def _plan(
    world: World | Model | None,
    seed: int,
    users: int | None,
    start: date | None,
    end: date | None,
    count: int | None,
    shard: Shard | None,
) -> Plan:
    model = model_for(world)
    history = model.world.history
    return Plan(
        model=model,
        seed=seed,
        start=start or history.start,
        end=end or history.end,
        users=users,
        shard=shard or Shard(),
        count=count,
    )


def _block(plan: Plan) -> EventBlock:
    return concat_blocks([b for b, _ in generate_blocks(plan)])


def sample_events(count: int, seed: int | None = None) -> list[IncomingEvent]:
    """``count`` realistic events of the shipped world (quick mode), raw addresses included."""
    used = seed if seed is not None else secrets.randbits(32)
    plan = _plan(None, used, None, None, None, count, None)
    rows = incoming_rows(plan.model, _block(plan))
    return msgspec.json.decode(orjson.dumps(rows), type=list[IncomingEvent])


def generate_canonical(
    world: World | Model | None = None,
    seed: int = 0,
    *,
    users: int | None = None,
    start: date | None = None,
    end: date | None = None,
    count: int | None = None,
    shard: Shard | None = None,
) -> list[CanonicalEvent]:
    """The run's events as ``CanonicalEvent``s (universal ids as the connector assigns them)."""
    plan = _plan(world, seed, users, start, end, count, shard)
    rows = canonical_rows(plan.model, _block(plan))
    return msgspec.json.decode(orjson.dumps(rows), type=list[CanonicalEvent])


def generate_arrow(
    world: World | Model | None = None,
    seed: int = 0,
    *,
    users: int | None = None,
    start: date | None = None,
    end: date | None = None,
    count: int | None = None,
    shard: Shard | None = None,
) -> pa.Table:
    """The run's events as an Arrow table with the columns of ``email_events``."""
    plan = _plan(world, seed, users, start, end, count, shard)
    return arrow_table(plan.model, _block(plan))


def iter_arrow(
    world: World | Model | None = None,
    seed: int = 0,
    *,
    users: int | None = None,
    start: date | None = None,
    end: date | None = None,
    count: int | None = None,
    shard: Shard | None = None,
    chunk_events: int = CHUNK_EVENTS,
) -> Iterator[pa.Table]:
    """``generate_arrow`` as a stream: one table per chunk of about ``chunk_events`` events
    (whole users, in user order), each built and handed over before the next is simulated.

    The tables hold the same rows in the same order as ``generate_arrow`` (dictionary
    columns are per table); memory is that of one chunk, not of the history.
    """
    plan = _plan(world, seed, users, start, end, count, shard)
    for block, _ in generate_blocks(plan, chunk_events):
        yield arrow_table(plan.model, block)


def generate_truth(
    world: World | Model | None = None,
    seed: int = 0,
    *,
    users: int | None = None,
    start: date | None = None,
    end: date | None = None,
    shard: Shard | None = None,
) -> list[UserTruth]:
    """Ground truth of every user of the run (same seed → same as the events' truth)."""
    plan = _plan(world, seed, users, start, end, None, shard)
    return [t for _, truths in generate_blocks(plan) for t in truths]


def expected_click_probability(
    world: World | Model | None,
    user_truth: UserTruth,
    delivered_at: datetime | npt.ArrayLike,
    channel: str = "email",
) -> Any:
    """P(click) of a message delivered at ``delivered_at`` (no hot path, no fatigue).

    See ``engagement.expected_click_probability``; vectorised over an array of
    epoch milliseconds or ``datetime64`` values.
    """
    return _engagement.expected_click_probability(
        model_for(world), user_truth, delivered_at, channel
    )
