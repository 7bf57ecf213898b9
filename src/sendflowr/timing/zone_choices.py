"""Each recipient's clock, held compactly: no Python object per recipient.

The store source keeps the clock it read each recipient's evidence on (a
``ZoneChoice``: zone, where it came from, confidence) for as long as the fitted
curves live, so that decisions are made and shown on it. Held as a dict of
``ZoneChoice`` objects this cost ≈ 250 bytes a recipient (the id's string, the
object, the zone name's string, the dict's slot) and scattered long-lived objects
over the heap the fit had just freed. Here a recipient costs its id in a
``RecipientIndex`` (id length + 8 bytes), a 2-byte zone code, a 1-byte source
code and an 8-byte confidence (float64: the confidence shown is the one inferred).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from sendflowr.timing.curves import RecipientIndex
from sendflowr.timing.zones import ZoneChoice

__all__ = ["SOURCES", "ZoneChoices", "learned_zones"]

#: ``ZoneChoice.source`` values, by code; 0 = the default (UTC, nothing known).
SOURCES: Final = ("default", "stored", "inferred", "request")
_CURVE_SOURCES: Final = np.array([s in ("request", "stored", "inferred") for s in SOURCES])
_STORED: Final = SOURCES.index("stored")


class ZoneChoices(Mapping[str, ZoneChoice]):
    """A read-only ``Mapping[str, ZoneChoice]`` in columns: the ids in a ``RecipientIndex``,
    per row a zone code (into ``names``), a source code (into ``SOURCES``) and a confidence.

    Row ``i`` is the ``i``-th id given. Many ids are looked up at once with ``rows``,
    ``choices`` and ``clocks``; the change operations (``where``, ``updated``) return a
    new object.
    """

    __slots__ = ("_confidence", "_index", "_names", "_source", "_zone")

    def __init__(
        self, universal_ids: Iterable[str] = (), choices: Iterable[ZoneChoice] = ()
    ) -> None:
        ids, picked = list(universal_ids), list(choices)
        if len(ids) != len(picked):
            raise ValueError("one choice per id")
        names: dict[str, int] = {}
        self._index = RecipientIndex(ids)
        self._zone = np.fromiter(
            (names.setdefault(c.name, len(names)) for c in picked), np.int16, len(picked)
        )
        self._source = np.fromiter((SOURCES.index(c.source) for c in picked), np.int8, len(picked))
        self._confidence = np.fromiter((c.confidence for c in picked), np.float64, len(picked))
        self._names: tuple[str, ...] = tuple(names)

    @classmethod
    def from_columns(
        cls,
        index: RecipientIndex,
        names: Sequence[str],
        zone: npt.NDArray[np.integer],
        source: npt.NDArray[np.integer],
        confidence: npt.NDArray[np.floating],
    ) -> ZoneChoices:
        """Built from columns: ``zone`` indexes ``names``, ``source`` indexes ``SOURCES``."""
        if len(names) > np.iinfo(np.int16).max:
            raise ValueError("too many distinct zones")
        out = cls.__new__(cls)
        out._index = index
        out._names = tuple(names)
        out._zone = np.asarray(zone, np.int16)
        out._source = np.asarray(source, np.int8)
        out._confidence = np.asarray(confidence, np.float64)
        return out

    # --- Mapping -------------------------------------------------------------
    def __getitem__(self, universal_id: str) -> ZoneChoice:
        row = int(self._index.rows([universal_id])[0])
        if row < 0:
            raise KeyError(universal_id)
        return self._choice(row)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def _choice(self, row: int) -> ZoneChoice:
        return ZoneChoice(
            self._names[self._zone[row]], SOURCES[self._source[row]], float(self._confidence[row])
        )

    # --- many at once ----------------------------------------------------------
    def rows(self, universal_ids: Sequence[str]) -> npt.NDArray[np.int64]:
        """Row of each id, −1 where it has no choice here."""
        return self._index.rows(universal_ids)

    def choices(self, universal_ids: Sequence[str]) -> list[ZoneChoice | None]:
        """Each id's choice (None where it has none); equal choices are one object."""
        made: dict[tuple[int, int, float], ZoneChoice] = {}
        out: list[ZoneChoice | None] = []
        for row in self.rows(universal_ids).tolist():
            if row < 0:
                out.append(None)
                continue
            key = (int(self._zone[row]), int(self._source[row]), float(self._confidence[row]))
            choice = made.get(key)
            if choice is None:
                choice = made[key] = self._choice(row)
            out.append(choice)
        return out

    def clocks(self, universal_ids: Sequence[str]) -> tuple[list[str], npt.NDArray[np.int64]]:
        """The clocks curves of these ids are learned on (``ZoneChoice.curve_clock``): the
        distinct zones other than UTC, sorted, and each id's position among them (−1 = UTC,
        also for an id without a choice)."""
        rows = self.rows(universal_ids)
        known = rows >= 0
        zone = np.full(rows.shape[0], -1, np.int64)
        picked = rows[known]
        zone[known] = np.where(_CURVE_SOURCES[self._source[picked]], self._zone[picked], -1)
        used = np.unique(zone[zone >= 0])
        named = sorted((self._names[z], int(z)) for z in used.tolist() if self._names[z] != "UTC")
        remap = np.full(len(self._names) + 1, -1, np.int64)  # the last slot: −1 stays −1
        for position, (_, z) in enumerate(named):
            remap[z] = position
        return [n for n, _ in named], remap[zone]

    def stored(self) -> npt.NDArray[np.bool_]:
        """Per row: the choice is a zone stored on the recipient's events."""
        out: npt.NDArray[np.bool_] = self._source == _STORED
        return out

    # --- changes (new objects) ---------------------------------------------------
    def where(self, mask: npt.NDArray[np.bool_], other: ZoneChoices) -> ZoneChoices:
        """Row by row ``other``'s choice where ``mask``, else this one's (``other`` has the
        same ids in the same order)."""
        names, theirs = _union(self._names, other._names)
        zone = np.where(mask, theirs[other._zone], self._zone)
        return ZoneChoices.from_columns(
            self._index,
            names,
            zone,
            np.where(mask, other._source, self._source),
            np.where(mask, other._confidence, self._confidence),
        )

    def taken(self, universal_ids: Sequence[str]) -> ZoneChoices:
        """These ids' choices in their order; the default (UTC) for ids without one."""
        rows = self.rows(universal_ids)
        known = rows >= 0
        names = self._names if "UTC" in self._names else (*self._names, "UTC")
        zone = np.full(rows.shape[0], names.index("UTC"), np.int16)
        source = np.zeros(rows.shape[0], np.int8)
        confidence = np.ones(rows.shape[0])
        zone[known] = self._zone[rows[known]]
        source[known] = self._source[rows[known]]
        confidence[known] = self._confidence[rows[known]]
        return ZoneChoices.from_columns(
            RecipientIndex(universal_ids), names, zone, source, confidence
        )

    def updated(self, other: ZoneChoices) -> ZoneChoices:
        """This map with ``other``'s choices replacing or adding theirs."""
        rows = self.rows(other._index)
        new = rows < 0
        index = self._index.extended(
            [u for u, n in zip(other._index, new.tolist(), strict=True) if n]
        )
        rows[new] = len(self) + np.arange(int(new.sum()))
        names, theirs = _union(self._names, other._names)

        def put(old: npt.NDArray[Any], values: npt.NDArray[Any]) -> npt.NDArray[Any]:
            out = np.empty(len(index), old.dtype)
            out[: old.shape[0]] = old
            out[rows] = values
            return out

        return ZoneChoices.from_columns(
            index,
            names,
            put(self._zone, theirs[other._zone]),
            put(self._source, other._source),
            put(self._confidence, other._confidence),
        )

    @property
    def nbytes(self) -> int:
        """Bytes held by the columns and the id index (the names list aside: one per zone)."""
        columns = (self._zone, self._source, self._confidence)
        return sum(int(a.nbytes) for a in columns) + self._index.nbytes


def _union(
    ours: tuple[str, ...], theirs: tuple[str, ...]
) -> tuple[list[str], npt.NDArray[np.int16]]:
    """``ours`` then the names only in ``theirs``, and where each of ``theirs`` went."""
    names = list(ours)
    position = {n: i for i, n in enumerate(names)}
    remap = np.empty(max(len(theirs), 1), np.int16)
    for i, name in enumerate(theirs):
        if name not in position:
            position[name] = len(names)
            names.append(name)
        remap[i] = position[name]
    return names, remap


def learned_zones(source: object, universal_ids: Sequence[str]) -> list[ZoneChoice | None]:
    """The clock each recipient's curve was learned on, as ``source`` knows it: from its
    ``zones_of`` (one lookup for all), else its ``zone_of`` one by one; None where it
    knows none (or has neither)."""
    many = getattr(source, "zones_of", None)
    if many is not None:
        return list(many(universal_ids))
    one = getattr(source, "zone_of", None)
    return [one(uid) if one is not None else None for uid in universal_ids]
