"""The reference evidence path: joins over the raw ``email_events``, at read time.

This is how ``StoreSource`` read before the aggregates (``timing.aggregates``)
existed: each delivered message joined by ``message_id`` to its clicks and human
opens, a separate engaged-times query, an activity query and a zone query, every
row turned into a Python tuple. It stays as the definition the aggregated path is
tested against (same evidence, same curves) and as the "before" of
``bench/store_aggregates.py``; the engine does not use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from sendflowr.events import HOT_PATH_TYPES
from sendflowr.store.schema import HUMAN_OPEN
from sendflowr.timing.aggregates import Engaged
from sendflowr.timing.curves import Evidence
from sendflowr.timing.sources import StoreSource, evidence_from_rows, subset

__all__ = ["RawStoreSource"]

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


class RawStoreSource(StoreSource):
    """``StoreSource`` reading ``email_events`` itself (the reference; see the module)."""

    def _read(
        self, now_minute: int, universal_ids: Sequence[str] | None
    ) -> tuple[Evidence, Engaged]:
        table = self._store.events_table
        now_ms = (now_minute + 1) * 60_000 - 1
        sql = _EVIDENCE.replace("{table}", table).replace("{human}", HUMAN_OPEN)
        result = self._store.query(sql, {"now_ms": now_ms})
        activity = self._store.query(
            _ACTIVITY.replace("{table}", table), {"now_ms": now_ms, "hot": list(HOT_PATH_TYPES)}
        )
        evidence = evidence_from_rows(
            [(str(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in result.rows],
            [(str(r[0]), int(r[1])) for r in activity.rows],
        )
        sql = _ENGAGED.replace("{table}", table).replace("{human}", HUMAN_OPEN)
        rows = self._store.query(sql, {"now_ms": now_ms}).rows
        index = {uid: i for i, uid in enumerate(evidence.universal_ids)}
        pairs = [(index[str(r[0])], int(r[1])) for r in rows if str(r[0]) in index]
        users = np.array([p[0] for p in pairs], dtype=np.int64)
        minutes = np.array([p[1] for p in pairs], dtype=np.int64)
        if universal_ids is None:
            return evidence, (users, minutes)
        part = subset(evidence, universal_ids)
        position = {uid: i for i, uid in enumerate(part.universal_ids)}
        remap = np.array([position.get(u, -1) for u in evidence.universal_ids], dtype=np.int64)
        mapped = remap[users] if users.size else users
        return part, (mapped[mapped >= 0], minutes[mapped >= 0])

    def stored_zones(
        self, now_minute: int, universal_ids: Sequence[str] | None = None
    ) -> dict[str, str]:
        """Each user's latest zone carried by their events (up to ``now_minute``)."""
        now_ms = (now_minute + 1) * 60_000 - 1
        query = _ZONES.replace("{table}", self._store.events_table)
        zones = {str(r[0]): str(r[1]) for r in self._store.query(query, {"now_ms": now_ms}).rows}
        if universal_ids is None:
            return zones
        return {u: zones[u] for u in universal_ids if u in zones}
