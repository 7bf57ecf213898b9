"""The engine's evidence read from the aggregates ClickHouse maintains at insert time.

``store.schema`` declares the tables (``message_outcomes``, ``recipient_activity``,
``recipient_zones``, ``recipient_updates``) and the materialized views that fill them
from every insert into ``email_events``. These functions read them columnar (Arrow
into numpy: no Python object per message) and return what the curve fit and zone
inference take, equal to what the raw join over ``email_events`` returns
(``timing.raw_source``; the equality is tested).

Each read merges the key's rows itself (``FINAL``: background merges may not have
run yet), and applies ``now_minute`` to the first-event minutes the
tables keep: a message counts as clicked at ``now`` when its first click is at or
before ``now``, which is what filtering the raw events by time gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from sendflowr.store import ClickHouseStore
from sendflowr.store.schema import (
    ACTIVITY_TABLE,
    MESSAGES_TABLE,
    UPDATES_TABLE,
    ZONES_TABLE,
    quote_identifier,
)
from sendflowr.timing.curves import Evidence

__all__ = ["Engaged", "read_changed", "read_evidence", "read_zones"]

#: ``(user index in the evidence, UTC epoch minute)`` of each message's first human
#: open or click (what zone inference reads).
Engaged = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]

_IDS: Final = "WHERE universal_id IN {ids:Array(String)}"

# FINAL merges each key's rows by the columns' own min/max/sum (what GROUP BY the key
# gives; measured 2-3x faster here); a filter on aggregated columns applies after it.
_MESSAGES: Final = """
SELECT universal_id, delivered_minute AS d, clicked_minute <= {now:Int32} AS clicked,
       opened_minute <= {now:Int32} AS opened, least(clicked_minute, opened_minute) AS e
FROM (SELECT * FROM {table} FINAL {ids})
WHERE d <= {now:Int32} OR e <= {now:Int32}
ORDER BY universal_id, d
"""

_ACTIVITY: Final = """
SELECT universal_id, minute, events AS n
FROM (SELECT * FROM {table} FINAL {ids})
WHERE minute <= {now:Int32}
ORDER BY universal_id, minute
"""

#: the zone of each recipient's latest event carrying one, up to ``now``
_ZONES: Final = """
SELECT universal_id, argMax(timezone, least(last_at, fromUnixTimestamp64Milli({now_ms:Int64})))
       AS zone
FROM (SELECT * FROM {table} FINAL {ids})
WHERE first_at <= fromUnixTimestamp64Milli({now_ms:Int64})
GROUP BY universal_id
"""

_CHANGED: Final = """
SELECT universal_id, toUnixTimestamp64Milli(stored_at) AS at,
       toUnixTimestamp64Milli(now64(3)) AS now_ms
FROM {table} FINAL
WHERE at > {watermark:Int64}
ORDER BY universal_id
"""


def _sql(template: str, store: ClickHouseStore, table: str, ids: Sequence[str] | None) -> str:
    qualified = f"{quote_identifier(store.database)}.{quote_identifier(table)}"
    return template.replace("{table}", qualified).replace("{ids}", _IDS if ids is not None else "")


def _params(ids: Sequence[str] | None, **values: int) -> dict[str, object]:
    return {**values, **({"ids": list(ids)} if ids is not None else {})}


def _lookup(keys: pa.ChunkedArray, values: pa.Array) -> npt.NDArray[np.int64]:
    """The position of each key in ``values``, −1 where absent."""
    found = pc.index_in(keys, value_set=values)
    return np.asarray(pc.fill_null(found, -1).to_numpy(), dtype=np.int64)


def read_evidence(
    store: ClickHouseStore, now_minute: int, universal_ids: Sequence[str] | None = None
) -> tuple[Evidence, Engaged]:
    """Every delivered message up to ``now_minute`` with what came of it (UTC minutes),
    and each message's first engagement; only ``universal_ids``' when given."""
    table = store.query_arrow(
        _sql(_MESSAGES, store, MESSAGES_TABLE, universal_ids),
        _params(universal_ids, now=now_minute),
    )
    delivered = table.column("d").to_numpy().astype(np.int64)
    is_delivery = delivered <= now_minute
    uid = table.column("universal_id").combine_chunks()
    # rows come sorted by recipient, so the dictionary is in sorted order as well
    encoded = pc.dictionary_encode(uid.filter(pa.array(is_delivery)))
    users: pa.Array = encoded.dictionary
    engaged_minute = table.column("e").to_numpy().astype(np.int64)
    engaged_rows = engaged_minute <= now_minute
    engaged_user = _lookup(pa.chunked_array([uid.filter(pa.array(engaged_rows))]), users)
    known = engaged_user >= 0
    activity = store.query_arrow(
        _sql(_ACTIVITY, store, ACTIVITY_TABLE, universal_ids),
        _params(universal_ids, now=now_minute),
    )
    activity_user = _lookup(activity.column("universal_id"), users)
    counts = activity.column("n").to_numpy().astype(np.int64)
    counts[activity_user < 0] = 0
    evidence = Evidence(
        universal_ids=[str(u) for u in users.to_pylist()],
        user_index=np.asarray(encoded.indices.to_numpy(), dtype=np.int64),
        delivered_minute=delivered[is_delivery],
        clicked=table.column("clicked").to_numpy()[is_delivery].astype(np.bool_),
        opened=table.column("opened").to_numpy()[is_delivery].astype(np.bool_),
        activity_index=np.repeat(activity_user, counts),
        activity_minute=np.repeat(activity.column("minute").to_numpy().astype(np.int64), counts),
    )
    return evidence, (engaged_user[known], engaged_minute[engaged_rows][known])


def read_zones(
    store: ClickHouseStore, now_minute: int, universal_ids: Sequence[str] | None = None
) -> dict[str, str]:
    """Each recipient's zone as carried by their latest event up to ``now_minute``.

    Exact unless a recipient's events in two zones interleave across ``now`` (events
    stored ahead of the clock): the table keeps each zone's first and last time only.
    """
    now_ms = (now_minute + 1) * 60_000 - 1
    table = store.query_arrow(
        _sql(_ZONES, store, ZONES_TABLE, universal_ids), _params(universal_ids, now_ms=now_ms)
    )
    ids = table.column("universal_id").to_pylist()
    zones = table.column("zone").to_pylist()
    return {str(u): str(z) for u, z in zip(ids, zones, strict=True)}


def read_changed(
    store: ClickHouseStore, watermark: int, settle_ms: int = 1_000
) -> tuple[list[str], int]:
    """Recipients with evidence stored after ``watermark`` (epoch ms of the store's clock
    at insert; 0 = every recipient), and the next watermark.

    The next watermark stays ``settle_ms`` behind the store's clock, so an insert still
    being written when this ran is reported next time (a recipient may be reported
    twice, never skipped). Reads ``recipient_updates`` only: one row per recipient.
    """
    sql = _sql(_CHANGED, store, UPDATES_TABLE, None)
    table = store.query_arrow(sql, {"watermark": watermark})
    if table.num_rows == 0:
        return [], watermark
    newest = int(pc.max(table.column("at")).as_py())
    settled = int(pc.max(table.column("now_ms")).as_py()) - settle_ms
    ids = [str(u) for u in table.column("universal_id").to_pylist()]
    return ids, max(watermark, min(newest, settled))
