"""ClickHouse schema of SendFlowr: tables, columns and idempotent migrations.

Identifiers (database names) are validated and quoted; values never appear in
DDL. ``email_events`` keeps a non-replicated deduplication window so that a
replayed insert with the same ``insert_deduplication_token`` adds no rows.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_COLUMN_NAMES",
    "EVENTS_TABLE",
    "EXPLANATIONS_TABLE",
    "migrations",
    "quote_identifier",
]

EVENTS_TABLE: Final = "email_events"
DEDUP_WINDOW: Final = 100_000

#: Every column of SPEC §2, in table order: (name, ClickHouse type).
EVENT_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("event_id", "UUID"),
    ("event_type", "LowCardinality(String)"),
    ("timestamp", "DateTime64(3, 'UTC')"),
    ("esp", "LowCardinality(String)"),
    ("universal_id", "String"),
    ("recipient_email_hash", "String"),
    ("recipient_id", "String"),
    ("campaign_id", "LowCardinality(String)"),
    ("campaign_name", "LowCardinality(String)"),
    ("message_id", "String"),
    ("subject", "String"),
    ("click_url", "String"),
    ("bounce_type", "LowCardinality(String)"),
    ("user_agent", "String"),
    ("ip_address", "String"),
    ("metadata", "String"),
    ("ingested_at", "DateTime64(3, 'UTC')"),
    ("latency_seconds", "Nullable(Float64)"),
    ("send_time", "Nullable(DateTime64(3, 'UTC'))"),
    ("hour_of_day", "Nullable(UInt8)"),
    ("minute", "Nullable(UInt8)"),
    ("day_of_week", "Nullable(UInt8)"),
    ("campaign_type", "LowCardinality(String)"),
    ("payload_size_bytes", "Nullable(UInt32)"),
    ("queue_depth_estimate", "Nullable(UInt32)"),
    ("channel", "LowCardinality(String)"),
    ("timezone", "LowCardinality(String)"),  # the recipient's IANA zone, "" = unknown
)
EVENT_COLUMN_NAMES: Final = tuple(name for name, _ in EVENT_COLUMNS)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def quote_identifier(name: str) -> str:
    """Backquote a database or table name after checking it is a plain identifier."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a valid ClickHouse identifier: {name!r}")
    return f"`{name}`"


def _events_ddl(database: str) -> str:
    columns = ",\n    ".join(f"{quote_identifier(n)} {t}" for n, t in EVENT_COLUMNS)
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(database)}.{EVENTS_TABLE} (\n"
        f"    {columns}\n"
        ") ENGINE = MergeTree\n"
        "PARTITION BY toYYYYMM(timestamp)\n"
        "ORDER BY (universal_id, timestamp, event_type, event_id)\n"
        f"SETTINGS non_replicated_deduplication_window = {DEDUP_WINDOW}"
    )


EXPLANATIONS_TABLE: Final = "timing_explanations"


def _explanations_ddl(database: str) -> str:
    """Every timing decision with its inputs and explanation (SPEC §5)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(database)}.{EXPLANATIONS_TABLE} (\n"
        "    decision_id UUID,\n"
        "    universal_id String,\n"
        "    created_at DateTime64(3, 'UTC'),\n"
        "    target_minute DateTime64(3, 'UTC'),\n"
        "    trigger_at DateTime64(3, 'UTC'),\n"
        "    latency_seconds Float64,\n"
        "    confidence Float64,\n"
        "    model_version LowCardinality(String),\n"
        "    inputs String,\n"
        "    debug String,\n"
        "    explanation String\n"
        ") ENGINE = MergeTree\n"
        "PARTITION BY toYYYYMM(created_at)\n"
        "ORDER BY decision_id"
    )


def migrations(database: str) -> list[str]:
    """DDL statements, each safe to run again, that bring ``database`` up to date."""
    return [
        f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}",
        _events_ddl(database),
        # tables made before time zones (issue #15) gain the column; no-op on new ones
        f"ALTER TABLE {quote_identifier(database)}.{EVENTS_TABLE} "
        "ADD COLUMN IF NOT EXISTS `timezone` LowCardinality(String) DEFAULT ''",
        _explanations_ddl(database),
    ]
