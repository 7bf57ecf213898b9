"""A persona's users are the same people whatever other personas the world has."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import msgspec
import numpy as np

from sendflowr.generator import default_world, model_for
from sendflowr.generator.block import EventBlock
from sendflowr.generator.population import user
from sendflowr.generator.simulate import simulate_user
from sendflowr.generator.world import World


def _with_extra_persona(world: World, at: int) -> World:
    """``world`` with a night-shift persona inserted at position ``at`` and its users added."""
    extra = msgspec.structs.replace(
        world.personas[0], name="night_shift_extra", count=30, peak_hours=(2, 3, 4)
    )
    personas = list(world.personas)
    personas.insert(at, extra)
    history = msgspec.structs.replace(world.history, users=world.history.users + extra.count)
    return msgspec.structs.replace(world, personas=tuple(personas), history=history)


def _people(world: World, users: int, seed: int = 3) -> dict[tuple[str, str], list[EventBlock]]:
    """(persona, zone) → the event blocks of its users, in rank order (two weeks each)."""
    model = model_for(world)
    start = world.history.start
    out: dict[tuple[str, str], list[EventBlock]] = defaultdict(list)
    by_rank = {}
    for index in range(users):
        who = user(model, index)
        by_rank[who.stream] = who
    for stream in sorted(by_rank):
        who = by_rank[stream]
        block, _ = simulate_user(model, who, seed, start, start + timedelta(days=14))
        out[(model.persona_names[who.persona], who.zone)].append(block)
    return out


def test_adding_a_persona_leaves_every_other_personas_users_unchanged() -> None:
    base = default_world()
    before = _people(base, base.history.users)
    for at in (0, 3, len(base.personas)):
        grown = _with_extra_persona(base, at)
        after = _people(grown, grown.history.users)
        assert any(name == "night_shift_extra" for name, _ in after)
        for key, blocks in before.items():
            assert len(after[key]) == len(blocks), key
            for old, new in zip(blocks, after[key], strict=True):
                assert np.array_equal(old.ts, new.ts) and np.array_equal(old.etype, new.etype)


def test_every_persona_gets_the_worlds_zone_mix() -> None:
    model = model_for(default_world())
    mix = model.world.timezones.mix
    for persona, zones in zip(model.world.personas, model.zone_layouts, strict=True):
        assert len(zones) == persona.count
        for code, name in enumerate(model.zone_names):
            expected = mix[name] / sum(mix.values()) * persona.count
            assert abs(int((zones == code).sum()) - expected) < 1.0, (persona.name, name)
