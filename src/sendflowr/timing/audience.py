"""Audience spread: many recipients over near-optimal minutes, within a sending capacity.

A batch is a list of *units*: recipients that share one value vector over the
window's candidate minutes (every cold recipient shares the global prior; a
known recipient is a unit of one). Each unit prefers one minute (its best, or
its exploration slot). Units whose preferred minute stays within the limits
keep it; the others are placed greedily, largest regret first:

- the limits are a capacity per minute (sends per minute, overall and for the
  batch's provider) and, for the cold unit, a share of itself per minute
  (``COLD_SHARE`` by default, so a cold audience never piles onto one minute
  even when no capacity is given);
- a unit's regret is the relative loss of its next-best option: sharp curves
  are placed first and keep their best minutes, flat ones (cold) fill what is
  left;
- each unit walks its options in decreasing value (its top-K minutes, then the
  whole window if needed) and takes what capacity is left in each.

Placement is a few numpy partitions for the conflicted units only, so an
audience that fits its best minutes costs one ``bincount``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from sendflowr.errors import ValidationError

__all__ = ["COLD_SHARE", "Capacity", "Placement", "Unit", "cold_cap", "spread"]

#: Most of a cold audience that one minute takes when no capacity says otherwise.
COLD_SHARE: Final = 0.02
_SPARE_OPTIONS: Final = 32

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Capacity:
    """Most sends per minute: overall and per provider (None/absent = unlimited)."""

    per_minute: int | None = None
    per_provider: Mapping[str, int] = field(default_factory=dict)

    def limit(self, provider: str) -> int | None:
        """The binding sends-per-minute limit for a batch sent through ``provider``."""
        caps = [c for c in (self.per_minute, self.per_provider.get(provider)) if c is not None]
        return min(caps) if caps else None


@dataclass(frozen=True)
class Unit:
    """Recipients sharing one value vector: how many, the minute they prefer, a per-minute cap."""

    size: int
    preferred: int
    #: Most members of this unit on one minute (None = no cap of its own).
    cap: int | None = None


@dataclass(frozen=True)
class Placement:
    """Where a unit's members go: ``count`` members on candidate ``index``, ``cost`` each.

    ``cost`` is the relative loss of expected response against the preferred
    minute (0 = not moved).
    """

    index: int
    count: int
    cost: float


def cold_cap(size: int, share: float = COLD_SHARE) -> int:
    """Most members of a cold unit of ``size`` on one minute."""
    return max(1, math.ceil(share * size))


def spread(
    units: Sequence[Unit],
    values: Callable[[int], FloatArray],
    n_minutes: int,
    limit: int | None,
    room: npt.NDArray[np.int64] | None = None,
) -> list[list[Placement]]:
    """Place every unit's members on candidate minutes within ``limit`` sends per minute.

    ``values(u)`` is unit ``u``'s value at each of the ``n_minutes`` candidates
    (0 = not allowed, e.g. suppressed); it is called only for units that cannot
    all stay on their preferred minute. ``room``: what is left of ``limit`` at each
    candidate when earlier parts of the same audience (other clocks) already took
    some. Raises ValidationError (field ``capacity``) when the window cannot hold the
    audience at ``limit``.
    """
    total = sum(u.size for u in units)
    free = (
        room.clip(min=0)
        if room is not None
        else np.full(n_minutes, limit if limit is not None else total, dtype=np.int64)
    )
    if limit is not None and int(free.sum()) < total:
        raise ValidationError(
            "capacity",
            f"{total:,} recipients need more than {n_minutes:,} minutes at {limit:,} per minute",
        )
    pref = np.fromiter((u.preferred for u in units), np.int64, len(units))
    size = np.fromiter((u.size for u in units), np.int64, len(units))
    own_cap = np.fromiter((u.cap or u.size for u in units), np.int64, len(units))
    load = np.bincount(pref, weights=size, minlength=n_minutes)
    crowded = load > free if limit is not None else np.zeros(n_minutes, dtype=bool)
    conflicted = (size > own_cap) | crowded[pref]
    room = free.astype(np.int64).copy()
    room -= np.bincount(pref[~conflicted], weights=size[~conflicted], minlength=n_minutes).astype(
        np.int64
    )
    out: list[list[Placement]] = [
        [Placement(int(pref[u]), int(size[u]), 0.0)] if not conflicted[u] else []
        for u in range(len(units))
    ]
    todo = np.flatnonzero(conflicted).tolist()
    plans = {u: _options(values(u), units[u], limit) for u in todo}
    todo.sort(key=lambda u: -plans[u][2])
    for u in todo:
        vec, order, _ = plans[u]
        out[u] = _fill(units[u], vec, order, room, limit)
    return out


def _options(
    vec: FloatArray, unit: Unit, limit: int | None
) -> tuple[FloatArray, npt.NDArray[np.int64], float]:
    """(values, the unit's top options with its preferred minute first, its regret)."""
    per_minute = min(unit.cap or unit.size, limit or unit.size)
    need = -(-unit.size // per_minute)
    k = min(vec.shape[0], need + _SPARE_OPTIONS)
    top = np.argpartition(-vec, k - 1)[:k] if k < vec.shape[0] else np.arange(vec.shape[0])
    top = top[np.argsort(-vec[top], kind="stable")]
    order = np.concatenate([[unit.preferred], top[top != unit.preferred]]).astype(np.int64)
    best = float(vec[unit.preferred])
    following = float(vec[order[1]]) if order.shape[0] > 1 else 0.0
    regret = 1.0 - following / best if best > 0 else 0.0
    return vec, order, regret


def _fill(
    unit: Unit,
    vec: FloatArray,
    order: npt.NDArray[np.int64],
    room: npt.NDArray[np.int64],
    limit: int | None,
) -> list[Placement]:
    """Take capacity along ``order`` (then the rest of the window) until every member is placed."""
    left = unit.size
    cap = unit.cap or unit.size
    best = float(vec[unit.preferred])
    placed: list[Placement] = []
    for candidates in (order, None):
        if candidates is None:
            seen = np.zeros(vec.shape[0], dtype=bool)
            seen[order] = True
            rest = np.argsort(-vec, kind="stable")
            candidates = rest[~seen[rest]]
        for i in candidates.tolist():
            if vec[i] <= 0 or room[i] <= 0:
                continue
            take = min(left, cap, int(room[i]))
            room[i] -= take
            left -= take
            cost = 1.0 - float(vec[i]) / best if best > 0 else 0.0
            placed.append(Placement(i, take, max(cost, 0.0)))
            if left == 0:
                return placed
    where = f"at {limit:,} per minute" if limit is not None else "outside its suppressions"
    raise ValidationError("capacity", f"the window cannot hold {unit.size:,} more sends {where}")
