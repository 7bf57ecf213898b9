"""Where the engine's inputs come from: a small contract and its ClickHouse form.

``evidence`` reads the aggregates ClickHouse keeps at insert time
(``timing.aggregates``: per message its first delivery, click and human open;
per recipient their activity minutes and zones), columnar, for every recipient
or for a list of them. ``changed_since`` names the recipients whose evidence
was stored after a watermark (the incremental refresh). ``contexts`` is one
query for a whole audience: recent hot paths and sends, and every circuit breaker
that can still be active (permanent ones whenever they happened).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from sendflowr.events import (
    CIRCUIT_BREAKER_TYPES,
    HOT_PATH_TYPES,
    PERMANENT_SUPPRESSION_TYPES,
)
from sendflowr.store import ClickHouseStore
from sendflowr.timing.aggregates import Engaged, read_changed, read_evidence, read_zones
from sendflowr.timing.context import (
    FATIGUE_WINDOW_MINUTES,
    HOT_PATH_HORIZON_MINUTES,
    Context,
    suppressions_from_events,
)
from sendflowr.timing.curves import Evidence, RecipientIndex
from sendflowr.timing.params import DEFAULT_PARAMS
from sendflowr.timing.zone_choices import SOURCES, ZoneChoices
from sendflowr.timing.zone_inference import infer_zones
from sendflowr.timing.zones import ZoneChoice, is_zone, to_wall_minutes

__all__ = [
    "EventSource",
    "MemorySource",
    "StoreSource",
    "choose_zones",
    "evidence_from_rows",
    "localise",
    "merge",
    "subset",
    "with_engaged",
]

_CONTEXT: Final = """
SELECT universal_id, event_type, intDiv(toUnixTimestamp64Milli(timestamp), 60000) AS minute
FROM {table}
WHERE universal_id IN {ids:Array(String)}
  AND timestamp <= fromUnixTimestamp64Milli({now_ms:Int64})
  AND (
    (event_type IN {hot:Array(String)} AND timestamp >= fromUnixTimestamp64Milli({hot_ms:Int64}))
    OR (event_type = 'sent' AND timestamp >= fromUnixTimestamp64Milli({sent_ms:Int64}))
    OR (event_type IN {breakers:Array(String)}
        AND timestamp >= fromUnixTimestamp64Milli({breaker_ms:Int64}))
    OR event_type IN {permanent:Array(String)}
  )
"""

#: engagements + activity signals a user needs before a zone is inferred for them, and
#: the confidence below which an inferred zone is not used (UTC is, and says so).
MIN_INFER_EVENTS: Final = 10
MIN_INFER_CONFIDENCE: Final = 0.6
_STORED: Final = SOURCES.index("stored")
_INFERRED: Final = SOURCES.index("inferred")


def choose_zones(
    evidence: Evidence,
    stored: Mapping[str, str],
    *,
    infer: bool = True,
    engaged: Engaged | None = None,
    now_minute: int | None = None,
) -> ZoneChoices:
    """Each evidence user's clock: the stored zone (latest on their events), else one
    inferred from when they engage and browse (``zone_inference``), else UTC
    (``ZoneChoice.source`` says which), in a compact ``ZoneChoices`` (rows in the
    evidence's user order).

    ``engaged`` is ``(user index, UTC epoch minute)`` of each message's first open or
    click (``StoreSource`` reads them); without it the delivery minutes of engaged
    messages stand in. ``now_minute`` (default: the newest evidence) is when the
    confidence's offset is judged.
    """
    if engaged is None:
        hit = evidence.clicked | evidence.opened
        engaged = (evidence.user_index[hit], evidence.delivered_minute[hit])
    n = len(evidence.universal_ids)
    known = {
        u: z for u, uid in enumerate(evidence.universal_ids) if is_zone(z := stored.get(uid, ""))
    }
    guesses: list[Any] = [None] * n
    if infer:
        idx = np.concatenate([np.asarray(engaged[0], np.int64), evidence.activity_index])
        minutes = np.concatenate([np.asarray(engaged[1], np.int64), evidence.activity_minute])
        if now_minute is None:
            now_minute = int(minutes.max(initial=0))
        guesses = infer_zones(idx, minutes, n, now_minute, known=known)
    names = {"UTC": 0}
    zone = np.zeros(n, np.int16)
    source = np.zeros(n, np.int8)  # the default: UTC, nothing known
    confidence = np.ones(n)
    for u, guess in enumerate(guesses):
        if u in known:
            zone[u] = names.setdefault(known[u], len(names))
            source[u] = _STORED
        elif guess is not None and guess.confidence >= MIN_INFER_CONFIDENCE:
            zone[u] = names.setdefault(guess.zone, len(names))
            source[u], confidence[u] = _INFERRED, guess.confidence
    index = RecipientIndex(evidence.universal_ids)
    return ZoneChoices.from_columns(index, list(names), zone, source, confidence)


def with_engaged(evidence: Evidence, engaged: Engaged) -> Evidence:
    """``evidence`` carrying ``(user index, epoch minute)`` of each message's first human
    open or click as activity evidence of its own (``Evidence.engaged_*``)."""
    return replace(evidence, engaged_index=np.asarray(engaged[0], np.int64),
                   engaged_minute=np.asarray(engaged[1], np.int64))  # fmt: skip


def localise(evidence: Evidence, zones: Mapping[str, ZoneChoice]) -> Evidence:
    """``evidence`` with every minute read on its user's local clock, so that curves are
    learned in each recipient's local week (a DST change does not smear them), on the
    clock ``ZoneChoice.curve_clock`` names (stored, requested or confidently inferred)."""
    distinct, code = _clocks(evidence.universal_ids, zones)
    if not distinct:
        return evidence
    delivered = evidence.delivered_minute.copy()
    activity = evidence.activity_minute.copy()
    engaged = evidence.engaged_minute.copy()
    d_zone = code[evidence.user_index] if evidence.size else np.zeros(0, np.int64)
    a_zone = code[evidence.activity_index] if evidence.activity_index.size else d_zone[:0]
    e_zone = code[evidence.engaged_index] if evidence.engaged_index.size else d_zone[:0]
    for k, name in enumerate(distinct):
        rows = d_zone == k
        delivered[rows] = to_wall_minutes(delivered[rows], name)
        rows = a_zone == k
        activity[rows] = to_wall_minutes(activity[rows], name)
        rows = e_zone == k
        engaged[rows] = to_wall_minutes(engaged[rows], name)
    return replace(evidence, delivered_minute=delivered, activity_minute=activity,
                   engaged_minute=engaged)  # fmt: skip


def _clocks(
    universal_ids: Sequence[str], zones: Mapping[str, ZoneChoice]
) -> tuple[list[str], npt.NDArray[np.int64]]:
    """The curve clocks other than UTC (sorted) and each id's position among them (−1: UTC)."""
    if isinstance(zones, ZoneChoices):
        return zones.clocks(universal_ids)
    names = [zones.get(uid, ZoneChoice()).curve_clock for uid in universal_ids]
    distinct = sorted(set(names) - {"UTC"})
    position = {name: i for i, name in enumerate(distinct)}
    return distinct, np.array([position.get(n, -1) for n in names], dtype=np.int64)


class EventSource(Protocol):
    """What the engine reads: learning evidence and live context."""

    def evidence(self, now_minute: int, universal_ids: Sequence[str] | None = None) -> Evidence:
        """Every delivered message up to ``now_minute`` with what came of it; with
        ``universal_ids``, only those recipients' (the same arrays as ``subset`` of
        the full evidence; recipients without deliveries are absent)."""
        ...

    def changed_since(self, watermark: int) -> tuple[list[str], int]:
        """Recipients with evidence stored after ``watermark`` (opaque; 0 = every one),
        and the watermark to pass next time."""
        ...

    def contexts(self, universal_ids: list[str], now_minute: int) -> dict[str, Context]:
        """Live context of each recipient that has any (others are absent)."""
        ...


def evidence_from_rows(
    rows: list[tuple[str, int, int, int]], activity: list[tuple[str, int]] | None = None
) -> Evidence:
    """Evidence from ``(universal_id, delivered epoch minute, clicked, opened)`` rows and
    ``(universal_id, epoch minute)`` activity signals (of users that have deliveries)."""
    ids: dict[str, int] = {}
    index = np.fromiter((ids.setdefault(r[0], len(ids)) for r in rows), np.int64, len(rows))
    acts = [(ids[u], m) for u, m in (activity or []) if u in ids]
    return Evidence(
        universal_ids=list(ids),
        user_index=index,
        delivered_minute=np.fromiter((r[1] for r in rows), np.int64, len(rows)),
        clicked=np.fromiter((bool(r[2]) for r in rows), np.bool_, len(rows)),
        opened=np.fromiter((bool(r[3]) for r in rows), np.bool_, len(rows)),
        activity_index=np.asarray([a[0] for a in acts], dtype=np.int64),
        activity_minute=np.asarray([a[1] for a in acts], dtype=np.int64),
    )


class StoreSource:
    """EventSource over ClickHouse: evidence from the aggregate tables, context from events.

    ``settle_ms``: how far ``changed_since``'s watermark stays behind the store's clock
    (inserts in flight are reported on the next call; see ``aggregates.read_changed``).
    """

    def __init__(
        self,
        store: ClickHouseStore,
        *,
        infer_zones: bool = True,
        hide_zones: bool = False,
        settle_ms: int = 1_000,
    ) -> None:
        self._store = store
        self._infer = infer_zones
        #: ignore the zones events carry (the zone-inference bench: what if none were known)
        self._hide = hide_zones
        self._settle_ms = settle_ms
        #: the clock each recipient's evidence was last read on (``zone_of``)
        self._zones = ZoneChoices()
        self._engaged: tuple[Evidence, Engaged] | None = None

    def evidence(self, now_minute: int, universal_ids: Sequence[str] | None = None) -> Evidence:
        """Every user's (or ``universal_ids``') deliveries and engagement, on each user's
        local clock.

        A full read chooses every user's clock afresh (zone inference runs over the
        whole population). A read of some users keeps the clocks the last full read
        chose, except that a zone now stored on a user's events wins, and users it
        never saw are inferred among the users read: so a refreshed user's arrays are
        those of the full evidence, and users not read keep theirs.
        """
        evidence, engaged = self._read(now_minute, universal_ids)
        stored = {} if self._hide else self.stored_zones(now_minute, universal_ids)
        full = universal_ids is None
        zones = choose_zones(
            evidence, stored, infer=self._infer and full, engaged=engaged, now_minute=now_minute
        )
        if full:
            self._zones = zones
        else:
            ids = evidence.universal_ids
            new = self._zones.rows(ids) < 0
            if new.any() and self._infer:
                guessed = choose_zones(evidence, stored, engaged=engaged, now_minute=now_minute)
                zones = zones.where(new, guessed)
            # a recipient seen before keeps its clock unless a zone is now stored
            zones = zones.where(~new & ~zones.stored(), self._zones.taken(ids))
            self._zones = self._zones.updated(zones)
        return localise(with_engaged(evidence, engaged), zones)

    def release_memory(self) -> None:
        """Hand what the store's engine freed after the reads back to the system."""
        self._store.release_memory()

    def changed_since(self, watermark: int) -> tuple[list[str], int]:
        """Recipients with evidence stored after ``watermark`` (epoch ms of the store's
        clock; 0 = every one) and the next watermark, from ``recipient_updates`` alone."""
        return read_changed(self._store, watermark, self._settle_ms)

    def _read(
        self, now_minute: int, universal_ids: Sequence[str] | None
    ) -> tuple[Evidence, Engaged]:
        return read_evidence(self._store, now_minute, universal_ids)

    def stored_zones(
        self, now_minute: int, universal_ids: Sequence[str] | None = None
    ) -> dict[str, str]:
        """Each user's latest zone carried by their events (up to ``now_minute``)."""
        return read_zones(self._store, now_minute, universal_ids)

    def engaged(self, evidence: Evidence, now_minute: int) -> Engaged:
        """``(user index in evidence, UTC epoch minute)`` of each message's first human open
        or click, for users in ``evidence`` (what zone inference and the curves read)."""
        if self._engaged is not None and self._engaged[0] is evidence:
            return self._engaged[1]
        return self._read(now_minute, evidence.universal_ids)[1]

    def utc_evidence(self, now_minute: int, universal_ids: Sequence[str] | None = None) -> Evidence:
        """The same evidence with every minute in UTC (what zone inference reads)."""
        evidence, engaged = self._read(now_minute, universal_ids)
        self._engaged = (evidence, engaged)
        return evidence

    def zone_of(self, universal_id: str) -> ZoneChoice | None:
        """The clock the last evidence read this recipient on (None: not in the evidence)."""
        return self._zones.get(universal_id)

    def zones_of(self, universal_ids: Sequence[str]) -> list[ZoneChoice | None]:
        """``zone_of`` of many recipients at once (one vectorised lookup)."""
        return self._zones.choices(universal_ids)

    def contexts(self, universal_ids: list[str], now_minute: int) -> dict[str, Context]:
        """One query for the whole audience's live context."""
        if not universal_ids:
            return {}
        now_ms = (now_minute + 1) * 60_000 - 1
        longest = max(DEFAULT_PARAMS.suppression_hours.values())
        params = {
            "ids": universal_ids,
            "now_ms": now_ms,
            "hot": list(HOT_PATH_TYPES),
            "hot_ms": (now_minute - HOT_PATH_HORIZON_MINUTES) * 60_000,
            "sent_ms": (now_minute - FATIGUE_WINDOW_MINUTES) * 60_000,
            "breakers": list(CIRCUIT_BREAKER_TYPES),
            "breaker_ms": (now_minute - round(longest * 60)) * 60_000,
            "permanent": list(PERMANENT_SUPPRESSION_TYPES),
        }
        result = self._store.query(_CONTEXT.replace("{table}", self._store.events_table), params)
        grouped: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for uid, event_type, minute in result.rows:
            grouped[str(uid)].append((str(event_type), int(minute)))
        out: dict[str, Context] = {}
        for uid, events in grouped.items():
            out[uid] = Context(
                hot_paths=sorted(m for t, m in events if t in HOT_PATH_TYPES),
                recent_sends=sorted(m for t, m in events if t == "sent"),
                suppressions=suppressions_from_events(
                    [(t, m) for t, m in events if t not in HOT_PATH_TYPES and t != "sent"]
                ),
            )
        return out


class MemorySource:
    """EventSource over given evidence and contexts (unit tests, benchmarks).

    ``add`` appends evidence as if it had just been stored: ``changed_since`` then
    names its users (the watermark counts the additions; construction is the first).
    """

    def __init__(
        self,
        evidence: Evidence,
        contexts: dict[str, Context] | None = None,
        zones: dict[str, str] | None = None,
    ) -> None:
        self._evidence = evidence
        self._contexts = contexts or {}
        self._stored = dict(zones or {})
        # Only users given a zone are moved to their local clock (no inference here).
        self._zones = choose_zones(evidence, self._stored, infer=False) if zones else ZoneChoices()
        self._version = 1
        #: user → the addition that last brought them evidence (built on first use)
        self._changed: dict[str, int] | None = None

    def add(self, more: Evidence, zones: dict[str, str] | None = None) -> None:
        """Append ``more`` (and zones for its users); its users become changed."""
        self._changes()
        self._evidence = merge(self._evidence, more)
        self._stored.update(zones or {})
        if self._stored:
            self._zones = choose_zones(self._evidence, self._stored, infer=False)
        self._version += 1
        self._changes().update(dict.fromkeys(_users_with_evidence(more), self._version))

    def evidence(self, now_minute: int, universal_ids: Sequence[str] | None = None) -> Evidence:
        """The evidence given on its users' clocks (``now_minute`` unused); only
        ``universal_ids``' when given."""
        full = localise(self._evidence, self._zones) if self._zones else self._evidence
        return full if universal_ids is None else subset(full, universal_ids)

    def changed_since(self, watermark: int) -> tuple[list[str], int]:
        """Users of every ``add`` after ``watermark`` (0: every user), and the count of
        additions so far."""
        return [u for u, v in self._changes().items() if v > watermark], self._version

    def _changes(self) -> dict[str, int]:
        if self._changed is None:
            self._changed = dict.fromkeys(_users_with_evidence(self._evidence), 1)
        return self._changed

    def zone_of(self, universal_id: str) -> ZoneChoice | None:
        """The clock this recipient's evidence is read on (None: no zone was given)."""
        return self._zones.get(universal_id)

    def zones_of(self, universal_ids: Sequence[str]) -> list[ZoneChoice | None]:
        """``zone_of`` of many recipients at once."""
        return self._zones.choices(universal_ids)

    def contexts(self, universal_ids: list[str], now_minute: int) -> dict[str, Context]:
        """The given contexts of these recipients."""
        return {u: self._contexts[u] for u in universal_ids if u in self._contexts}


def _users_with_evidence(evidence: Evidence) -> list[str]:
    used = np.union1d(evidence.user_index, evidence.activity_index)
    return [evidence.universal_ids[int(u)] for u in used]


def subset(evidence: Evidence, universal_ids: Sequence[str]) -> Evidence:
    """The rows of ``universal_ids`` (those in ``evidence``), users in ``evidence``'s order."""
    wanted = set(universal_ids)
    keep = [u for u, uid in enumerate(evidence.universal_ids) if uid in wanted]
    remap = np.full(len(evidence.universal_ids), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    rows = remap[evidence.user_index] >= 0
    acts = remap[evidence.activity_index] >= 0
    engs = remap[evidence.engaged_index] >= 0
    return Evidence(
        universal_ids=[evidence.universal_ids[u] for u in keep],
        user_index=remap[evidence.user_index][rows],
        delivered_minute=evidence.delivered_minute[rows],
        clicked=evidence.clicked[rows],
        opened=evidence.opened[rows],
        activity_index=remap[evidence.activity_index][acts],
        activity_minute=evidence.activity_minute[acts],
        engaged_index=remap[evidence.engaged_index][engs],
        engaged_minute=evidence.engaged_minute[engs],
    )


def merge(first: Evidence, second: Evidence) -> Evidence:
    """``first``'s rows then ``second``'s; users in order of first appearance."""
    ids = list(first.universal_ids)
    position = {uid: i for i, uid in enumerate(ids)}
    for uid in second.universal_ids:
        position.setdefault(uid, len(ids))
        if len(ids) < len(position):
            ids.append(uid)
    remap = np.array([position[u] for u in second.universal_ids], dtype=np.int64)
    return Evidence(
        universal_ids=ids,
        user_index=np.concatenate([first.user_index, remap[second.user_index]]),
        delivered_minute=np.concatenate([first.delivered_minute, second.delivered_minute]),
        clicked=np.concatenate([first.clicked, second.clicked]),
        opened=np.concatenate([first.opened, second.opened]),
        activity_index=np.concatenate([first.activity_index, remap[second.activity_index]]),
        activity_minute=np.concatenate([first.activity_minute, second.activity_minute]),
        engaged_index=np.concatenate([first.engaged_index, remap[second.engaged_index]]),
        engaged_minute=np.concatenate([first.engaged_minute, second.engaged_minute]),
    )
