"""The fidelity report's measurements: aggregate queries over ``email_events``.

Each function runs one query (aggregation happens in ClickHouse) and returns a
small pandas DataFrame. Queries bind the database as ``{db:Identifier}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from sendflowr.store.access import Queryable
from sendflowr.timing.zones import is_zone

__all__ = [
    "breaker_violations",
    "dataset_shape",
    "event_mix",
    "fatigue",
    "heatmap",
    "hot_path_lift",
    "latency_by_minute",
    "latency_summary",
    "opens_by_local_hour",
    "sends_around_breakers",
    "zone_opens_by_day",
    "zones",
]

_E = "{db:Identifier}.email_events"
_OPENED = f"(SELECT message_id FROM {_E} WHERE event_type = 'opened' AND message_id != '')"
_HOT = "('site_visit', 'sms_click', 'product_view')"
_BREAKERS = "('support_ticket', 'complaint', 'unsubscribe_request')"


def _frame(store: Queryable, sql: str, database: str, **params: Any) -> pd.DataFrame:
    result = store.query(sql, {"db": database, **params})
    return pd.DataFrame(result.rows, columns=result.columns)


def dataset_shape(store: Queryable, database: str) -> pd.DataFrame:
    """Events, users, first and last day, and user-days of the data set."""
    return _frame(
        store,
        f"SELECT count() AS events, uniqExact(universal_id) AS users, "
        f"toString(toDate(min(timestamp))) AS first_day, "
        f"toString(toDate(max(timestamp))) AS last_day, "
        f"dateDiff('day', toDate(min(timestamp)), toDate(max(timestamp))) + 1 AS days "
        f"FROM {_E}",
        database,
    )


def latency_by_minute(store: Queryable, database: str) -> pd.DataFrame:
    """Delivered events per channel and minute of the send hour: count, mean, median, max."""
    return _frame(
        store,
        "SELECT channel, coalesce(minute, toMinute(send_time), toMinute(timestamp)) AS m, "
        "count() AS n, avg(latency_seconds) AS mean, quantile(0.5)(latency_seconds) AS p50, "
        f"max(latency_seconds) AS max FROM {_E} "
        "WHERE event_type = 'delivered' AND latency_seconds IS NOT NULL "
        "GROUP BY channel, m ORDER BY channel, m",
        database,
    )


def latency_summary(store: Queryable, database: str) -> pd.DataFrame:
    """Delivered events per channel: count, median and max latency."""
    return _frame(
        store,
        "SELECT channel, count() AS n, quantileExact(0.5)(latency_seconds) AS p50, "
        f"max(latency_seconds) AS max FROM {_E} "
        "WHERE event_type = 'delivered' AND latency_seconds IS NOT NULL GROUP BY channel",
        database,
    )


def zones(store: Queryable, database: str) -> list[str]:
    """The recipients' zones in the data ("" = unknown, read as UTC), most events first."""
    result = store.query(
        f"SELECT timezone FROM {_E} GROUP BY timezone ORDER BY count() DESC", {"db": database}
    )
    return [str(r[0]) for r in result.rows]


def _local(known: list[str]) -> tuple[str, str, dict[str, Any]]:
    """SQL for the local hour and weekday (0 = Monday) of ``timestamp`` in each row's zone.

    ClickHouse takes a time zone only as a constant, so each zone in the data is a
    branch of ``multiIf`` with the zone bound as a parameter; "" is UTC.
    """
    names = [z for z in known if z and z != "UTC" and is_zone(z)]
    params = {f"z{i}": z for i, z in enumerate(names)}
    hour = ", ".join(
        f"timezone = {{z{i}:String}}, toHour(timestamp, {{z{i}:String}})" for i in range(len(names))
    )
    dow = ", ".join(
        f"timezone = {{z{i}:String}}, toDayOfWeek(timestamp, 0, {{z{i}:String}})"
        for i in range(len(names))
    )
    hour_sql = f"multiIf({hour}, toHour(timestamp))" if names else "toHour(timestamp)"
    dow_sql = (
        f"multiIf({dow}, toDayOfWeek(timestamp)) - 1" if names else "toDayOfWeek(timestamp) - 1"
    )
    return hour_sql, dow_sql, params


def heatmap(store: Queryable, database: str, known: list[str] | None = None) -> pd.DataFrame:
    """Deliveries and opened ones by persona, *local* delivery weekday (0=Mon) and hour.

    ``known`` are the zones in the data (``zones``); each row is read in its own zone.
    """
    hour, dow, params = _local(known if known is not None else zones(store, database))
    return _frame(
        store,
        f"SELECT JSONExtractString(metadata, 'persona') AS persona, {dow} AS dow, "
        f"{hour} AS hour, count() AS delivered, "
        f"countIf(message_id IN {_OPENED}) AS opened FROM {_E} "
        "WHERE event_type = 'delivered' GROUP BY persona, dow, hour",
        database,
        **params,
    )


def opens_by_local_hour(store: Queryable, database: str, known: list[str]) -> pd.DataFrame:
    """Opens by persona and the *local* hour they happened at (the recipient's zone)."""
    hour, _, params = _local(known)
    return _frame(
        store,
        f"SELECT JSONExtractString(metadata, 'persona') AS persona, {hour} AS hour, "
        f"count() AS opens FROM {_E} WHERE event_type = 'opened' GROUP BY persona, hour",
        database,
        **params,
    )


def zone_opens_by_day(
    store: Queryable, database: str, zone: str, campaigns: list[str]
) -> pd.DataFrame:
    """Habit events of one zone's recipients by persona, UTC day and UTC quarter-hour (0–95).

    Habit events: opens and clicks of sends in ``campaigns`` (those sent on the
    recipient's clock) and hot-path signals.
    """
    return _frame(
        store,
        "SELECT JSONExtractString(metadata, 'persona') AS persona, "
        "toString(toDate(timestamp)) AS day, "
        "intDiv(toHour(timestamp) * 60 + toMinute(timestamp), 15) AS quarter, count() AS events "
        f"FROM {_E} WHERE timezone = {{zone:String}} AND ("
        f"(event_type IN ('opened', 'clicked') AND campaign_id IN {{campaigns:Array(String)}}) "
        f"OR event_type IN {_HOT}) GROUP BY persona, day, quarter ORDER BY day, quarter",
        database,
        zone=zone,
        campaigns=campaigns,
    )


def fatigue(store: Queryable, database: str) -> pd.DataFrame:
    """Sends by the user's number of sends in the previous 24 h (3 = 3+), and opened ones."""
    return _frame(
        store,
        "SELECT least(prior, 3) AS prior_sends, count() AS sends, "
        f"countIf(message_id IN {_OPENED}) AS opened FROM ("
        "SELECT message_id, count() OVER (PARTITION BY universal_id "
        "ORDER BY toUnixTimestamp64Milli(timestamp) "
        "RANGE BETWEEN 86400000 PRECEDING AND 1 PRECEDING) AS prior "
        f"FROM {_E} WHERE event_type = 'sent') GROUP BY prior_sends ORDER BY prior_sends",
        database,
    )


def hot_path_lift(store: Queryable, database: str) -> pd.DataFrame:
    """Deliveries by minutes since the user's latest hot-path event, and opened ones."""
    return _frame(
        store,
        "SELECT multiIf(hot_ts = 0 OR mins >= 30, 'none in 30 min', mins < 10, '0-10 min', "
        "mins < 20, '10-20 min', '20-30 min') AS since_hot_path, count() AS delivered, "
        f"countIf(message_id IN {_OPENED}) AS opened FROM ("
        "SELECT d.message_id AS message_id, h.ts AS hot_ts, (d.ts - h.ts) / 60000.0 AS mins FROM ("
        "SELECT universal_id, message_id, toUnixTimestamp64Milli(timestamp) AS ts "
        f"FROM {_E} WHERE event_type = 'delivered') AS d "
        "ASOF LEFT JOIN (SELECT universal_id, toUnixTimestamp64Milli(timestamp) AS ts "
        f"FROM {_E} WHERE event_type IN {_HOT}) AS h "
        "ON d.universal_id = h.universal_id AND d.ts >= h.ts) "
        "GROUP BY since_hot_path ORDER BY since_hot_path",
        database,
    )


def breaker_violations(
    store: Queryable, database: str, windows: Mapping[str, float]
) -> pd.DataFrame:
    """Sends inside a circuit breaker's suppression window (``windows``: hours by type)."""
    minutes = "transform(event_type, {types:Array(String)}, {minutes:Array(Int64)}, toInt64(0))"
    return _frame(
        store,
        "SELECT c.event_type AS breaker, count() AS sends_inside FROM ("
        f"SELECT universal_id, timestamp FROM {_E} WHERE event_type = 'sent') AS s "
        "INNER JOIN (SELECT universal_id, event_type, timestamp AS at, "
        f"timestamp + toIntervalMinute({minutes}) AS until FROM {_E} "
        f"WHERE event_type IN {_BREAKERS}) AS c ON s.universal_id = c.universal_id "
        "WHERE s.timestamp >= c.at AND s.timestamp < c.until GROUP BY breaker",
        database,
        types=list(windows),
        minutes=[round(h * 60) for h in windows.values()],
    )


def sends_around_breakers(store: Queryable, database: str) -> pd.DataFrame:
    """Sends by hour relative to each circuit-breaker event (−72 h … +200 h), by breaker."""
    return _frame(
        store,
        "SELECT c.event_type AS breaker, "
        "intDiv(dateDiff('second', c.at, s.timestamp), 3600) AS rel_hour, count() AS sends FROM ("
        f"SELECT universal_id, timestamp FROM {_E} WHERE event_type = 'sent') AS s "
        "INNER JOIN (SELECT universal_id, event_type, timestamp AS at "
        f"FROM {_E} WHERE event_type IN {_BREAKERS}) AS c ON s.universal_id = c.universal_id "
        "WHERE s.timestamp >= c.at - toIntervalHour(72) "
        "AND s.timestamp < c.at + toIntervalHour(200) "
        "GROUP BY breaker, rel_hour ORDER BY breaker, rel_hour",
        database,
    )


def event_mix(store: Queryable, database: str) -> pd.DataFrame:
    """Events by type and channel."""
    return _frame(
        store,
        f"SELECT event_type, channel, count() AS events FROM {_E} "
        "GROUP BY event_type, channel ORDER BY event_type, channel",
        database,
    )
