"""The one statement that loads event lines into ``email_events`` and fills its training columns.

The sink hands ClickHouse the Kafka values themselves (JSON objects, one a
line, already validated by ``sink.records``) instead of re-encoding decoded
events: ClickHouse parses them in C++ and this ``INSERT … SELECT`` derives
what the events leave empty:

- ``send_time`` of a ``sent`` event is its ``timestamp``;
- ``latency_seconds`` of a ``delivered`` event is ``timestamp − send_time``
  (when not negative);
- ``hour_of_day``, ``minute`` and ``day_of_week`` (0 = Monday) come from
  ``send_time`` in UTC;
- ``campaign_type``, ``payload_size_bytes`` and ``queue_depth_estimate``
  come from the same keys of ``metadata`` (a string; a non-negative integer
  below 2**32), and ``channel`` from ``metadata.channel`` when the event says
  ``email`` (the default) and metadata names another known channel;
- ``ingested_at`` is the time the sink took the chunk, for events without one.

A value the event carries is never overwritten. ``metadata`` is stored as
the JSON text of the line (``{}`` when absent).
"""

from __future__ import annotations

from typing import Final

from sendflowr.events import CHANNELS
from sendflowr.store.schema import EVENT_COLUMN_NAMES

__all__ = ["LINE_FORMAT", "LINE_SETTINGS", "LINE_STRUCTURE", "SELECT_FILLED"]

LINE_FORMAT: Final = "JSONEachRow"

#: Column types as the lines are parsed (before filling and casting to the table's).
LINE_STRUCTURE: Final = ", ".join(
    f"{name} {kind}"
    for name, kind in (
        ("event_id", "UUID"),
        ("event_type", "String"),
        ("timestamp", "DateTime64(6, 'UTC')"),
        ("esp", "String"),
        ("universal_id", "String"),
        ("recipient_email_hash", "String"),
        ("recipient_id", "String"),
        ("campaign_id", "String"),
        ("campaign_name", "String"),
        ("message_id", "String"),
        ("subject", "String"),
        ("click_url", "String"),
        ("bounce_type", "String"),
        ("user_agent", "String"),
        ("ip_address", "String"),
        ("metadata", "String"),
        ("ingested_at", "Nullable(DateTime64(6, 'UTC'))"),
        ("latency_seconds", "Nullable(Float64)"),
        ("send_time", "Nullable(DateTime64(6, 'UTC'))"),
        ("hour_of_day", "Nullable(UInt8)"),
        ("minute", "Nullable(UInt8)"),
        ("day_of_week", "Nullable(UInt8)"),
        ("campaign_type", "String"),
        ("payload_size_bytes", "Nullable(UInt32)"),
        ("queue_depth_estimate", "Nullable(UInt32)"),
        ("channel", "String"),
        ("timezone", "String"),
    )
)

#: ClickHouse settings of the load: metadata objects read as their text, RFC 3339 times
#: with any offset, exact floats, and no leniency a validated line would not need.
LINE_SETTINGS: Final = {
    "input_format_json_read_objects_as_strings": 1,
    "input_format_json_read_numbers_as_strings": 0,
    "input_format_json_read_bools_as_strings": 0,
    "input_format_json_read_arrays_as_strings": 0,
    "input_format_skip_unknown_fields": 1,
    "input_format_null_as_default": 1,
    "date_time_input_format": "best_effort",
    "precise_float_parsing": 1,
    # One block a chunk: splitting the parse over threads costs more than it saves, and a
    # single block keeps the deduplication token's meaning simple.
    "input_format_parallel_parsing": 0,
    "max_threads": 1,
    "max_insert_threads": 1,
    "min_insert_block_size_rows": 0,
    "min_insert_block_size_bytes": 0,
    "max_insert_block_size": 10_000_000,
    "max_block_size": 10_000_000,
}

_CHANNEL_LIST: Final = ", ".join(f"'{c}'" for c in CHANNELS)
_UINT32_MAX: Final = 2**32 - 1

_FILLED: Final = {
    "event_id": "event_id",
    "metadata": "meta",
    "ingested_at": "coalesce(ingested_at, {ingested_at:DateTime64(6, 'UTC')})",
    "latency_seconds": (
        "if(latency_seconds IS NULL AND event_type = 'delivered' AND sent IS NOT NULL"
        " AND timestamp >= sent,"
        " toFloat64(dateDiff('microsecond', sent, timestamp)) / 1000000, latency_seconds)"
    ),
    "send_time": "sent",
    "hour_of_day": "coalesce(hour_of_day, toHour(sent))",
    "minute": "coalesce(minute, toMinute(sent))",
    "day_of_week": "coalesce(day_of_week, toUInt8(toDayOfWeek(sent) - 1))",
    "campaign_type": (
        "if(campaign_type = '' AND position(meta, '\"campaign_type\"') > 0"
        " AND JSONType(meta, 'campaign_type') = 'String',"
        " substringUTF8(JSONExtractString(meta, 'campaign_type'), 1, 256), campaign_type)"
    ),
    "payload_size_bytes": (
        "if(payload_size_bytes IS NULL AND position(meta, '\"payload_size_bytes\"') > 0"
        " AND JSONType(meta, 'payload_size_bytes') = 'Int64'"
        f" AND JSONExtractInt(meta, 'payload_size_bytes') BETWEEN 0 AND {_UINT32_MAX},"
        " toUInt32(JSONExtractInt(meta, 'payload_size_bytes')), payload_size_bytes)"
    ),
    "queue_depth_estimate": (
        "if(queue_depth_estimate IS NULL AND position(meta, '\"queue_depth_estimate\"') > 0"
        " AND JSONType(meta, 'queue_depth_estimate') = 'Int64'"
        f" AND JSONExtractInt(meta, 'queue_depth_estimate') BETWEEN 0 AND {_UINT32_MAX},"
        " toUInt32(JSONExtractInt(meta, 'queue_depth_estimate')), queue_depth_estimate)"
    ),
    # Parsed only when metadata may name another channel: a single "channel" key that
    # says "email" (the common case) changes nothing.
    "channel": (
        "if(said_channel = 'email' AND position(meta, '\"channel\"') > 0"
        " AND NOT (countSubstrings(meta, '\"channel\"') = 1"
        ' AND position(meta, \'"channel":"email"\') > 0)'
        " AND JSONType(meta, 'channel') = 'String'"
        f" AND JSONExtractString(meta, 'channel') IN ({_CHANNEL_LIST}),"
        " JSONExtractString(meta, 'channel'), said_channel)"
    ),
}

#: ``SELECT`` of every ``email_events`` column, in table order, from the lines in
#: ``{source}`` (replaced by a table function: ``input(…)`` or ``file(…)`` with
#: ``LINE_STRUCTURE``). Takes the query parameter ``ingested_at``.
SELECT_FILLED: Final = (
    "SELECT "  # noqa: S608 (fixed text: every value is a bound parameter)
    + ", ".join(_FILLED.get(name, name) for name in EVENT_COLUMN_NAMES)
    + " FROM (SELECT *,"
    " if(send_time IS NULL AND event_type = 'sent', timestamp, send_time) AS sent,"
    " if(metadata = '', '{}', metadata) AS meta,"
    " if(channel = '', 'email', channel) AS said_channel"
    " FROM {source})"
)
