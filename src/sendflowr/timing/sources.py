"""Where the engine's inputs come from: a two-method contract and its ClickHouse form.

``evidence`` is one query for every user: each delivered message joined by
``message_id`` to its clicks and its human opens. ``contexts`` is one query for
a whole audience: recent hot paths and sends, and every circuit breaker that
can still be active (permanent ones whenever they happened).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any, Final, Protocol

import numpy as np

from sendflowr.events import (
    CIRCUIT_BREAKER_TYPES,
    HOT_PATH_TYPES,
    PERMANENT_SUPPRESSION_TYPES,
)
from sendflowr.store import ClickHouseStore
from sendflowr.timing.context import (
    FATIGUE_WINDOW_MINUTES,
    HOT_PATH_HORIZON_MINUTES,
    Context,
    suppressions_from_events,
)
from sendflowr.timing.curves import Evidence
from sendflowr.timing.params import DEFAULT_PARAMS
from sendflowr.timing.zone_inference import infer_zones
from sendflowr.timing.zones import ZoneChoice, is_zone, to_wall_minutes

__all__ = [
    "EventSource",
    "MemorySource",
    "StoreSource",
    "choose_zones",
    "evidence_from_rows",
    "localise",
    "with_engaged",
]

#: An open counts as machine traffic (Apple MPP, image proxies) when flagged in
#: metadata or when its user agent names a proxy.
_HUMAN_OPEN: Final = (
    "NOT (JSONExtractBool(metadata, 'machine_open') OR JSONExtractBool(metadata, 'is_machine_open')"
    " OR positionCaseInsensitive(user_agent, 'proxy') > 0)"
)

_EVIDENCE: Final = """
SELECT d.universal_id, intDiv(toUnixTimestamp64Milli(d.ts), 60000) AS minute,
       e.clicked, e.opened
FROM (
    SELECT universal_id, message_id, min(timestamp) AS ts FROM {table}
    WHERE event_type = 'delivered' AND message_id != '' AND universal_id != ''
      AND timestamp <= fromUnixTimestamp64Milli({now_ms:Int64})
    GROUP BY universal_id, message_id
) AS d
LEFT JOIN (
    SELECT message_id, max(event_type = 'clicked') AS clicked,
           max(event_type = 'opened' AND {human}) AS opened
    FROM {table}
    WHERE event_type IN ('clicked', 'opened') AND message_id != ''
      AND timestamp <= fromUnixTimestamp64Milli({now_ms:Int64})
    GROUP BY message_id
) AS e ON d.message_id = e.message_id
ORDER BY d.universal_id, minute
"""

_ACTIVITY: Final = """
SELECT universal_id, intDiv(toUnixTimestamp64Milli(timestamp), 60000) AS minute
FROM {table}
WHERE event_type IN {hot:Array(String)} AND universal_id != ''
  AND timestamp <= fromUnixTimestamp64Milli({now_ms:Int64})
ORDER BY universal_id, minute
"""

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


_ZONES: Final = """
SELECT universal_id, argMax(timezone, timestamp) AS zone
FROM {table}
WHERE timezone != '' AND universal_id != ''
  AND timestamp <= fromUnixTimestamp64Milli({now_ms:Int64})
GROUP BY universal_id
"""

#: Each message's first human open or click (the time someone engaged, not the delivery).
_ENGAGED: Final = """
SELECT universal_id, intDiv(toUnixTimestamp64Milli(min(timestamp)), 60000) AS minute
FROM {table}
WHERE (event_type = 'clicked' OR (event_type = 'opened' AND {human}))
  AND message_id != '' AND universal_id != ''
  AND timestamp <= fromUnixTimestamp64Milli({now_ms:Int64})
GROUP BY universal_id, message_id
"""

#: engagements + activity signals a user needs before a zone is inferred for them, and
#: the confidence below which an inferred zone is not used (UTC is, and says so).
MIN_INFER_EVENTS: Final = 10
MIN_INFER_CONFIDENCE: Final = 0.6

Engaged = tuple[np.ndarray, np.ndarray]


def choose_zones(
    evidence: Evidence,
    stored: dict[str, str],
    *,
    infer: bool = True,
    engaged: Engaged | None = None,
    now_minute: int | None = None,
) -> dict[str, ZoneChoice]:
    """Each evidence user's clock: the stored zone (latest on their events), else one
    inferred from when they engage and browse (``zone_inference``), else UTC
    (``ZoneChoice.source`` says which).

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
    out: dict[str, ZoneChoice] = {}
    for u, uid in enumerate(evidence.universal_ids):
        guess = guesses[u]
        if u in known:
            out[uid] = ZoneChoice(known[u], "stored", 1.0)
        elif guess is not None and guess.confidence >= MIN_INFER_CONFIDENCE:
            out[uid] = ZoneChoice(guess.zone, "inferred", guess.confidence)
        else:
            out[uid] = ZoneChoice()
    return out


def with_engaged(evidence: Evidence, engaged: Engaged) -> Evidence:
    """``evidence`` carrying ``(user index, epoch minute)`` of each message's first human
    open or click as activity evidence of its own (``Evidence.engaged_*``)."""
    return replace(evidence, engaged_index=np.asarray(engaged[0], np.int64),
                   engaged_minute=np.asarray(engaged[1], np.int64))  # fmt: skip


def localise(evidence: Evidence, zones: dict[str, ZoneChoice]) -> Evidence:
    """``evidence`` with every minute read on its user's local clock, so that curves are
    learned in each recipient's local week (a DST change does not smear them), on the
    clock ``ZoneChoice.curve_clock`` names (stored, requested or confidently inferred)."""
    names = [zones.get(uid, ZoneChoice()).curve_clock for uid in evidence.universal_ids]
    distinct = sorted(set(names) - {"UTC"})
    if not distinct:
        return evidence
    code = np.array([distinct.index(n) if n != "UTC" else -1 for n in names], dtype=np.int64)
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


class EventSource(Protocol):
    """What the engine reads: learning evidence and live context."""

    def evidence(self, now_minute: int) -> Evidence:
        """Every delivered message up to ``now_minute`` with what came of it."""
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
    """EventSource over the ClickHouse events table."""

    def __init__(
        self, store: ClickHouseStore, *, infer_zones: bool = True, hide_zones: bool = False
    ) -> None:
        self._store = store
        self._infer = infer_zones
        #: ignore the zones events carry (the zone-inference bench: what if none were known)
        self._hide = hide_zones
        self._zones: dict[str, ZoneChoice] = {}

    def evidence(self, now_minute: int) -> Evidence:
        """One query over every user's deliveries and engagement, on each user's local clock."""
        evidence = self.utc_evidence(now_minute)
        engaged = self.engaged(evidence, now_minute)
        zones = choose_zones(evidence, {} if self._hide else self.stored_zones(now_minute),
                             infer=self._infer, engaged=engaged,
                             now_minute=now_minute)  # fmt: skip
        self._zones = zones
        return localise(with_engaged(evidence, engaged), zones)

    def stored_zones(self, now_minute: int) -> dict[str, str]:
        """Each user's latest zone carried by their events (up to ``now_minute``)."""
        now_ms = (now_minute + 1) * 60_000 - 1
        query = _ZONES.replace("{table}", self._store.events_table)
        return {str(r[0]): str(r[1]) for r in self._store.query(query, {"now_ms": now_ms}).rows}

    def engaged(self, evidence: Evidence, now_minute: int) -> Engaged:
        """``(user index in evidence, UTC epoch minute)`` of each message's first human open
        or click, for users in ``evidence`` (what zone inference and the curves read)."""
        now_ms = (now_minute + 1) * 60_000 - 1
        sql = _ENGAGED.replace("{table}", self._store.events_table).replace("{human}", _HUMAN_OPEN)
        rows = self._store.query(sql, {"now_ms": now_ms}).rows
        index = {uid: i for i, uid in enumerate(evidence.universal_ids)}
        pairs = [(index[str(r[0])], int(r[1])) for r in rows if str(r[0]) in index]
        return (np.fromiter((p[0] for p in pairs), np.int64, len(pairs)),
                np.fromiter((p[1] for p in pairs), np.int64, len(pairs)))  # fmt: skip

    def utc_evidence(self, now_minute: int) -> Evidence:
        """The same evidence with every minute in UTC (what zone inference reads)."""
        table = self._store.events_table
        now_ms = (now_minute + 1) * 60_000 - 1
        sql = _EVIDENCE.replace("{table}", table).replace("{human}", _HUMAN_OPEN)
        result = self._store.query(sql, {"now_ms": now_ms})
        activity = self._store.query(
            _ACTIVITY.replace("{table}", table), {"now_ms": now_ms, "hot": list(HOT_PATH_TYPES)}
        )
        return evidence_from_rows(
            [(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in result.rows],
            [(str(r[0]), int(r[1])) for r in activity.rows],
        )

    def zone_of(self, universal_id: str) -> ZoneChoice | None:
        """The clock the last evidence read this recipient on (None: not in the evidence)."""
        return self._zones.get(universal_id)

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
    """EventSource over fixed evidence and contexts (unit tests, benchmarks)."""

    def __init__(
        self,
        evidence: Evidence,
        contexts: dict[str, Context] | None = None,
        zones: dict[str, str] | None = None,
    ) -> None:
        self._evidence = evidence
        self._contexts = contexts or {}
        # Only users given a zone are moved to their local clock (no inference here).
        self._zones = choose_zones(evidence, zones or {}, infer=False) if zones else {}

    def evidence(self, now_minute: int) -> Evidence:
        """The evidence given at construction on its users' clocks (``now_minute`` unused)."""
        return localise(self._evidence, self._zones) if self._zones else self._evidence

    def zone_of(self, universal_id: str) -> ZoneChoice | None:
        """The clock this recipient's evidence is read on (None: no zone was given)."""
        return self._zones.get(universal_id)

    def contexts(self, universal_ids: list[str], now_minute: int) -> dict[str, Context]:
        """The given contexts of these recipients."""
        return {u: self._contexts[u] for u in universal_ids if u in self._contexts}
