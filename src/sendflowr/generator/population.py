"""Who the simulated users are: index → persona, address, ids; shards; random streams."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from sendflowr.errors import ConfigError
from sendflowr.generator.model import Model
from sendflowr.identity.keys import hash_email, universal_id_for

__all__ = ["Shard", "User", "parse_shard", "user", "user_rng"]


@dataclass(frozen=True, slots=True)
class User:
    """A simulated recipient. ``email`` is raw: it may only go to the connector."""

    index: int
    persona: int
    email: str
    recipient_id: str
    email_hash: str
    universal_id: str
    #: IANA time zone the user lives in (the world's mix; "UTC" before time zones).
    zone: str = "UTC"
    #: the user's random stream: (persona key, rank among the persona's users).
    stream: tuple[int, int] = (0, 0)


@lru_cache(maxsize=65_536)
def _identity(index: int) -> tuple[str, str, str, str]:
    email = f"user{index:04d}@example.test"
    digest = hash_email(email)
    return email, f"synth_user_{index:05d}", digest, universal_id_for("email", digest)


def user(model: Model, index: int) -> User:
    """User ``index``: persona and zone from the world's layouts (repeating past their size).

    ``universal_id`` is exactly what the connector's identity store assigns to
    a new email, so in-process and connector runs agree.
    """
    email, rid, digest, uid = _identity(index)
    block, at = divmod(index, len(model.layout))
    persona = int(model.layout[at])
    count = model.world.personas[persona].count
    rank = block * count + int(model.persona_rank[at])
    zones = model.zone_layouts[persona]
    zone = model.zone_names[int(zones[rank % len(zones)])]
    return User(index, persona, email, rid, digest, uid, zone, (model.persona_keys[persona], rank))


def user_rng(seed: int, stream: tuple[int, int]) -> np.random.Generator:
    """A user's own stream: the child ``stream`` (persona key, rank) of ``SeedSequence(seed)``.

    O(1), so one user's draws never depend on how many users run, on shards, or
    on which other personas the world has: a persona's r-th user is the same
    person in any world that has that persona.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=stream)))


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count``: users with ``user_index % count == index``."""

    index: int = 0
    count: int = 1

    def owns(self, user_index: int) -> bool:
        """Whether this shard simulates user ``user_index``."""
        return user_index % self.count == self.index


def parse_shard(text: str | None) -> Shard:
    """Parse ``I/N`` (0 ≤ I < N); ``None`` is the whole population."""
    if not text:
        return Shard()
    try:
        left, right = text.split("/")
        index, count = int(left), int(right)
    except ValueError:
        raise ConfigError(f"expected I/N such as 0/2, got {text!r}", option="--shard") from None
    if count < 1 or not 0 <= index < count:
        raise ConfigError(f"need 0 <= I < N, got {text!r}", option="--shard")
    return Shard(index, count)
