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
- each unit walks its options in decreasing value (its best minutes, as many
  as it can need plus spares, then the whole window if those fill up) and
  takes what capacity is left in each.

Values are read, a chunk of units at a time, for the conflicted units only, so
an audience that fits its best minutes costs one ``bincount``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from sendflowr.errors import ValidationError
from sendflowr.timing.runs import top_of

__all__ = [
    "COLD_SHARE",
    "Best",
    "Capacity",
    "Placement",
    "Unit",
    "Values",
    "cold_cap",
    "dense_best",
    "spread",
]

#: Most of a cold audience that one minute takes when no capacity says otherwise.
COLD_SHARE: Final = 0.02
_SPARE_OPTIONS: Final = 32
_CELLS_PER_CHUNK: Final = 2_000_000

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
    """Where a unit's members go: ``count`` members on candidate ``index``.

    ``value`` is the unit's value there; ``cost`` the relative loss of expected
    response against the preferred minute (0 = not moved).
    """

    index: int
    count: int
    value: float
    cost: float


def cold_cap(size: int, share: float = COLD_SHARE) -> int:
    """Most members of a cold unit of ``size`` on one minute."""
    return max(1, math.ceil(share * size))


#: ``values(units)``: those units' values over every candidate, ``(len(units), n_minutes)``.
Values = Callable[[list[int]], npt.NDArray[np.floating[Any]]]
#: ``best(units, k)``: those units' ``k`` best candidates and values ``(len(units), k)`` in
#: any order, and each one's value at its preferred candidate ``(len(units),)``.
Best = Callable[
    [list[int], int],
    tuple[npt.NDArray[np.int64], npt.NDArray[np.floating[Any]], npt.NDArray[np.floating[Any]]],
]


def dense_best(units: Sequence[Unit], values: Values) -> Best:
    """``Best`` read from ``values`` (the whole window of each unit)."""

    def best(
        which: list[int], k: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.floating[Any]], FloatArray]:
        vals = values(which)
        cols, top = top_of(vals, k)
        preferred = np.fromiter((units[u].preferred for u in which), np.int64, len(which))
        return cols, top, vals[np.arange(len(which)), preferred].astype(np.float64)

    return best


@dataclass
class _Options:
    """A conflicted unit's best candidates (preferred first) and their values."""

    index: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]
    regret: float


def spread(
    units: Sequence[Unit],
    values: Values,
    n_minutes: int,
    limit: int | None,
    room: npt.NDArray[np.int64] | None = None,
    best: Best | None = None,
) -> list[list[Placement]]:
    """Place every unit's members on candidate minutes within ``limit`` sends per minute.

    ``values`` gives units' values over the ``n_minutes`` candidates (0 = not
    allowed, e.g. suppressed); it is called, in chunks, only for units that
    cannot all stay on their preferred minute. ``best`` gives their best options
    without the whole window (default: read from ``values``). ``room``: what is left of ``limit``
    at each candidate when earlier parts of the same audience (other clocks)
    already took some. Raises ValidationError (field ``capacity``) when the window
    cannot hold the audience at ``limit``.
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
    settled = np.bincount(pref[~conflicted], weights=size[~conflicted], minlength=n_minutes)
    room -= settled.astype(np.int64)
    out: list[list[Placement]] = [[] for _ in units]
    for u in np.flatnonzero(~conflicted).tolist():
        out[u] = [Placement(int(pref[u]), int(size[u]), math.nan, 0.0)]
    todo = np.flatnonzero(conflicted).tolist()
    options = _options(units, todo, best or dense_best(units, values), n_minutes, limit)
    todo.sort(key=lambda u: -options[u].regret)
    for u in todo:
        out[u] = _fill(units[u], u, options[u], values, room, limit)
    return out


def _options(
    units: Sequence[Unit], todo: list[int], best: Best, n_minutes: int, limit: int | None
) -> dict[int, _Options]:
    """Best options of the conflicted units, read a chunk of units at a time."""
    out: dict[int, _Options] = {}
    chunk = max(1, _CELLS_PER_CHUNK // n_minutes)
    for lo in range(0, len(todo), chunk):
        part = todo[lo : lo + chunk]
        k = min(n_minutes, max(_need(units[u], limit) for u in part) + _SPARE_OPTIONS)
        top, top_vals, preferred = best(part, k)
        for r, (u, pref) in enumerate(zip(part, preferred.tolist(), strict=True)):
            out[u] = _ranked(units[u], top[r], top_vals[r], pref, limit)
    return out


def _need(unit: Unit, limit: int | None) -> int:
    """Minutes the unit needs at most: its size over what one minute may take of it."""
    return -(-unit.size // min(unit.cap or unit.size, limit or unit.size))


def _ranked(
    unit: Unit,
    cols: npt.NDArray[np.integer[Any]],
    vals: npt.NDArray[np.floating[Any]],
    preferred_value: float,
    limit: int | None,
) -> _Options:
    """The best options in decreasing value, preferred minute first, and the unit's regret.

    Only as many as the unit can need (plus spares) are kept; ``_walk`` goes on
    through the whole window in the rare case they fill up.
    """
    k = _need(unit, limit) + _SPARE_OPTIONS + 1
    if cols.shape[0] > k:
        part = np.argpartition(-vals, k - 1)[:k]
        cols, vals = cols[part], vals[part]
    order = np.argsort(-vals, kind="stable")
    cols, vals = cols[order].astype(np.int64), vals[order].astype(np.float64)
    keep = cols != unit.preferred
    index = np.concatenate([[unit.preferred], cols[keep]]).astype(np.int64)
    value = np.concatenate([[preferred_value], vals[keep]])
    following = float(value[1]) if value.shape[0] > 1 else 0.0
    regret = 1.0 - following / preferred_value if preferred_value > 0 else 0.0
    return _Options(index, value, regret)


def _fill(
    unit: Unit,
    u: int,
    opts: _Options,
    values: Values,
    room: npt.NDArray[np.int64],
    limit: int | None,
) -> list[Placement]:
    """Take capacity along the unit's options (then the whole window) until all are placed."""
    left = unit.size
    cap = unit.cap or unit.size
    best = float(opts.value[0])
    placed: list[Placement] = []
    for index, value in _walk(u, opts, values):
        if value <= 0 or room[index] <= 0:
            continue
        take = min(left, cap, int(room[index]))
        room[index] -= take
        left -= take
        cost = 1.0 - value / best if best > 0 else 0.0
        placed.append(Placement(index, take, value, max(cost, 0.0)))
        if left == 0:
            return placed
    where = f"at {limit:,} per minute" if limit is not None else "outside its suppressions"
    raise ValidationError("capacity", f"the window cannot hold {unit.size:,} more sends {where}")


def _walk(u: int, opts: _Options, values: Values) -> Iterator[tuple[int, float]]:
    """The unit's options in order, then (rarely needed) the rest of the window by value."""
    yield from zip(opts.index.tolist(), opts.value.tolist(), strict=True)
    vec = np.asarray(values([u])[0], dtype=np.float64)
    seen = np.zeros(vec.shape[0], dtype=bool)
    seen[opts.index] = True
    rest = np.argsort(-vec, kind="stable")
    rest = rest[~seen[rest]]
    yield from zip(rest.tolist(), vec[rest].tolist(), strict=True)
