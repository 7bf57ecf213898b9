"""Where the engine's inputs come from: a two-method contract and its ClickHouse form.

``evidence`` is one query for every user: each delivered message joined by
``message_id`` to its clicks and its human opens. ``contexts`` is one query for
a whole audience: recent hot paths and sends, and every circuit breaker that
can still be active (permanent ones whenever they happened).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Final, Protocol

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

__all__ = ["EventSource", "MemorySource", "StoreSource", "evidence_from_rows"]

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

    def __init__(self, store: ClickHouseStore) -> None:
        self._store = store

    def evidence(self, now_minute: int) -> Evidence:
        """One query over every user's deliveries and engagement."""
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

    def __init__(self, evidence: Evidence, contexts: dict[str, Context] | None = None) -> None:
        self._evidence = evidence
        self._contexts = contexts or {}

    def evidence(self, now_minute: int) -> Evidence:
        """The evidence given at construction (``now_minute`` is not applied)."""
        return self._evidence

    def contexts(self, universal_ids: list[str], now_minute: int) -> dict[str, Context]:
        """The given contexts of these recipients."""
        return {u: self._contexts[u] for u in universal_ids if u in self._contexts}
