"""ClickHouse schema of SendFlowr: tables, columns and idempotent migrations.

One description of every table (``TABLES``: columns, engine, keys) renders two
dialects of DDL, so they cannot drift apart:

- ``migrations(database)``: the embedded (chDB) or single-server DDL that the
  store runs at start;
- ``cluster_ddl(database, cluster)``: the DDL of a ClickHouse cluster — each
  table as ``Replicated…MergeTree`` named ``<table>_local`` on every node, and
  a ``Distributed`` table with the table's own name over them, and each
  materialized view (``VIEWS``) between the local tables, all ``ON CLUSTER``,
  so the roles query and insert by the same names either way.

The engine's evidence is aggregated where the data lives: four
``AggregatingMergeTree`` tables, each fed by a materialized view of every insert
into ``email_events`` (``AGGREGATE_TABLES``, docs/engine.md "Evidence"):

- ``message_outcomes`` (universal_id, message_id): first delivered, click and human
  open minute (``NEVER`` when none yet);
- ``recipient_activity`` (universal_id, minute): hot-path events per minute;
- ``recipient_zones`` (universal_id, timezone): first and last event carrying it;
- ``recipient_updates`` (universal_id): when evidence of the recipient was last stored.

Every column is a ``SimpleAggregateFunction`` (min, max or sum), so rows are right
however events arrive (a click before its delivery, one message over several
inserts); readers read them ``FINAL`` (a key's rows in parts not merged yet are
merged at read; parts merge in the background). Each keeps its own deduplication
window, so a replayed insert that ``email_events`` drops adds nothing to them either.
``stored_at`` is the store's clock at insert (``now64``), not the event's
``ingested_at`` (bulk loads leave that empty): the watermark of the incremental refresh.
``backfill`` fills a new table from the events already stored (an existing database
migrating).

Identifiers (database, cluster and table names) are validated and quoted; values
never appear in DDL. ``email_events`` keeps a deduplication window (non-replicated
embedded, replicated on a cluster) so that a replayed insert with the same
``insert_deduplication_token`` adds no rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from sendflowr.events import HOT_PATH_TYPES

__all__ = [
    "EVENT_COLUMNS",
    "EVENT_COLUMN_NAMES",
    "EVENTS_TABLE",
    "EXPLANATIONS_TABLE",
    "LOCAL_SUFFIX",
    "ACTIVITY_TABLE",
    "AGGREGATE_TABLES",
    "HUMAN_OPEN",
    "MESSAGES_TABLE",
    "NEVER",
    "TABLES",
    "UPDATES_TABLE",
    "VIEWS",
    "ZONES_TABLE",
    "TableSpec",
    "ViewSpec",
    "backfill",
    "cluster_ddl",
    "migrations",
    "quote_identifier",
    "script",
]

EVENTS_TABLE: Final = "email_events"
DEDUP_WINDOW: Final = 100_000
#: Suffix of a cluster's per-node replicated table under its Distributed table.
LOCAL_SUFFIX: Final = "_local"

#: Every column of the canonical event, in table order: (name, ClickHouse type).
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

EXPLANATIONS_TABLE: Final = "timing_explanations"

#: Every timing decision with its inputs and explanation (docs/engine.md).
EXPLANATION_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("decision_id", "UUID"),
    ("universal_id", "String"),
    ("created_at", "DateTime64(3, 'UTC')"),
    ("target_minute", "DateTime64(3, 'UTC')"),
    ("trigger_at", "DateTime64(3, 'UTC')"),
    ("latency_seconds", "Float64"),
    ("confidence", "Float64"),
    ("model_version", "LowCardinality(String)"),
    ("inputs", "String"),
    ("debug", "String"),
    ("explanation", "String"),
)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_ENGINE = re.compile(r"^[A-Za-z]*MergeTree$")


def quote_identifier(name: str) -> str:
    """Backquote a database or table name after checking it is a plain identifier."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a valid ClickHouse identifier: {name!r}")
    return f"`{name}`"


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table, in terms both dialects render.

    ``engine`` is a MergeTree family name (``MergeTree``, ``ReplacingMergeTree``,
    ``AggregatingMergeTree``…) and ``engine_args`` its arguments (e.g. the version
    column of a ``ReplacingMergeTree``); on a cluster it becomes ``Replicated<engine>``
    with the replication path and replica name first. ``dedup_window`` is how many
    recent insert blocks are remembered for deduplication; ``shard_key`` spreads rows
    over a cluster's shards (by recipient, so one recipient's rows live on one shard).
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    order_by: str
    engine: str = "MergeTree"
    engine_args: tuple[str, ...] = ()
    partition_by: str | None = None
    dedup_window: int | None = None
    shard_key: str = "rand()"

    def __post_init__(self) -> None:
        quote_identifier(self.name)
        if not _ENGINE.match(self.engine):
            raise ValueError(f"not a MergeTree family engine: {self.engine!r}")


MESSAGES_TABLE: Final = "message_outcomes"
ACTIVITY_TABLE: Final = "recipient_activity"
ZONES_TABLE: Final = "recipient_zones"
UPDATES_TABLE: Final = "recipient_updates"
#: "No such event yet" in the aggregates' minute columns (Int32's largest; ``min`` ignores it).
NEVER: Final = 2_147_483_647

#: An open counts as machine traffic (Apple MPP, image proxies) when flagged in
#: metadata or when its user agent names a proxy.
HUMAN_OPEN: Final = (
    "NOT (JSONExtractBool(metadata, 'machine_open') OR JSONExtractBool(metadata, 'is_machine_open')"
    " OR positionCaseInsensitive(user_agent, 'proxy') > 0)"
)

_STORED_AT: Final = ("stored_at", "SimpleAggregateFunction(max, DateTime64(3, 'UTC'))")
_MIN_MINUTE: Final = "SimpleAggregateFunction(min, Int32)"


def _aggregate(name: str, columns: tuple[tuple[str, str], ...], order_by: str) -> TableSpec:
    return TableSpec(
        name=name,
        columns=(("universal_id", "String"), *columns, _STORED_AT),
        order_by=order_by,
        engine="AggregatingMergeTree",
        dedup_window=DEDUP_WINDOW,
        shard_key="cityHash64(universal_id)",
    )


#: The tables the materialized views maintain (see the module docstring).
AGGREGATE_TABLES: Final[tuple[TableSpec, ...]] = (
    _aggregate(
        MESSAGES_TABLE,
        (
            ("message_id", "String"),
            ("delivered_minute", _MIN_MINUTE),
            ("clicked_minute", _MIN_MINUTE),
            ("opened_minute", _MIN_MINUTE),
        ),
        "(universal_id, message_id)",
    ),
    _aggregate(
        ACTIVITY_TABLE,
        (("minute", "Int32"), ("events", "SimpleAggregateFunction(sum, UInt64)")),
        "(universal_id, minute)",
    ),
    _aggregate(
        ZONES_TABLE,
        (
            ("timezone", "LowCardinality(String)"),
            ("first_at", "SimpleAggregateFunction(min, DateTime64(3, 'UTC'))"),
            ("last_at", "SimpleAggregateFunction(max, DateTime64(3, 'UTC'))"),
        ),
        "(universal_id, timezone)",
    ),
    _aggregate(UPDATES_TABLE, (), "universal_id"),
)

#: Every table SendFlowr creates, in creation order.
TABLES: Final[tuple[TableSpec, ...]] = (
    TableSpec(
        name=EVENTS_TABLE,
        columns=EVENT_COLUMNS,
        partition_by="toYYYYMM(timestamp)",
        order_by="(universal_id, timestamp, event_type, event_id)",
        dedup_window=DEDUP_WINDOW,
        shard_key="cityHash64(universal_id)",
    ),
    TableSpec(
        name=EXPLANATIONS_TABLE,
        columns=EXPLANATION_COLUMNS,
        partition_by="toYYYYMM(created_at)",
        order_by="decision_id",
        shard_key="cityHash64(universal_id)",
    ),
    *AGGREGATE_TABLES,
)


@dataclass(frozen=True, slots=True)
class ViewSpec:
    """A materialized view: every insert into the table ``source`` also goes, through
    ``select``, into the table ``target`` (aggregates maintained at insert time).

    ``select`` reads from the placeholder ``{source}``, which each dialect replaces
    with the table the inserts land in: ``db.source`` embedded; ``db.source_local`` on
    each node of a cluster, where the view fires and writes into the node's replicated
    ``target_local`` (the ``target`` Distributed table reads every shard's).
    """

    name: str
    source: str
    target: str
    select: str

    def __post_init__(self) -> None:
        for identifier in (self.name, self.source, self.target):
            quote_identifier(identifier)
        if "{source}" not in self.select:
            raise ValueError(f"view {self.name}: its select must read the {{source}} placeholder")


def _literals(values: Sequence[str]) -> str:
    for value in values:
        quote_identifier(value)  # plain words need no escaping inside quotes
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


_MINUTE: Final = "toInt32(intDiv(toUnixTimestamp64Milli(timestamp), 60000))"
_HOT: Final = _literals(HOT_PATH_TYPES)
_MESSAGE_TYPES: Final = _literals(("delivered", "clicked", "opened"))

#: Every materialized view SendFlowr creates, after the tables, in creation order.
VIEWS: Final[tuple[ViewSpec, ...]] = (
    ViewSpec(
        name=f"{MESSAGES_TABLE}_mv",
        source=EVENTS_TABLE,
        target=MESSAGES_TABLE,
        select=f"""SELECT universal_id, message_id,
    min(if(event_type = 'delivered', {_MINUTE}, toInt32({NEVER}))) AS delivered_minute,
    min(if(event_type = 'clicked', {_MINUTE}, toInt32({NEVER}))) AS clicked_minute,
    min(if(event_type = 'opened' AND {HUMAN_OPEN}, {_MINUTE}, toInt32({NEVER}))) AS opened_minute,
    now64(3) AS stored_at
FROM {{source}}
WHERE event_type IN {_MESSAGE_TYPES} AND message_id != '' AND universal_id != ''
GROUP BY universal_id, message_id""",  # noqa: S608 (constants, no values)
    ),
    ViewSpec(
        name=f"{ACTIVITY_TABLE}_mv",
        source=EVENTS_TABLE,
        target=ACTIVITY_TABLE,
        select=f"""SELECT universal_id, {_MINUTE} AS minute, count() AS events,
    now64(3) AS stored_at
FROM {{source}}
WHERE event_type IN {_HOT} AND universal_id != ''
GROUP BY universal_id, minute""",  # noqa: S608 (constants, no values)
    ),
    ViewSpec(
        name=f"{ZONES_TABLE}_mv",
        source=EVENTS_TABLE,
        target=ZONES_TABLE,
        select="""SELECT universal_id, timezone, min(timestamp) AS first_at,
    max(timestamp) AS last_at, now64(3) AS stored_at
FROM {source}
WHERE timezone != '' AND universal_id != ''
GROUP BY universal_id, timezone""",
    ),
    ViewSpec(
        name=f"{UPDATES_TABLE}_mv",
        source=EVENTS_TABLE,
        target=UPDATES_TABLE,
        # what feeds any of the three tables above: a recipient whose evidence changed
        select=f"""SELECT universal_id, now64(3) AS stored_at
FROM {{source}}
WHERE universal_id != '' AND (timezone != '' OR event_type IN {_HOT}
    OR (event_type IN {_MESSAGE_TYPES} AND message_id != ''))
GROUP BY universal_id""",  # noqa: S608 (constants, no values)
    ),
)


def _view_ddl(database: str, view: ViewSpec, on: str, suffix: str) -> str:
    db = quote_identifier(database)
    source = f"{db}.{quote_identifier(view.source + suffix)}"
    target = f"{db}.{quote_identifier(view.target + suffix)}"
    return (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{quote_identifier(view.name)}{on} "
        f"TO {target} AS\n{view.select.replace('{source}', source)}"
    )


def backfill(database: str, view: ViewSpec) -> str:
    """``INSERT … SELECT`` that fills ``view``'s target from the rows already in its source
    (run once, before the view exists, when an existing database gains the view)."""
    db = quote_identifier(database)
    source = f"{db}.{quote_identifier(view.source)}"
    return (
        f"INSERT INTO {db}.{quote_identifier(view.target)}\n"
        f"{view.select.replace('{source}', source)}"
    )


def _columns(spec: TableSpec) -> str:
    body = ",\n    ".join(f"{quote_identifier(n)} {t}" for n, t in spec.columns)
    return f"(\n    {body}\n)"


def _keys(spec: TableSpec, window_setting: str) -> str:
    lines = []
    if spec.partition_by:
        lines.append(f"PARTITION BY {spec.partition_by}")
    lines.append(f"ORDER BY {spec.order_by}")
    if spec.dedup_window is not None:
        lines.append(f"SETTINGS {window_setting} = {spec.dedup_window}")
    return "\n".join(lines)


def _engine(name: str, args: tuple[str, ...]) -> str:
    return f"{name}({', '.join(args)})" if args else name


def _table_ddl(database: str, spec: TableSpec) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {quote_identifier(database)}.{spec.name} "
        f"{_columns(spec)} ENGINE = {_engine(spec.engine, spec.engine_args)}\n"
        f"{_keys(spec, 'non_replicated_deduplication_window')}"
    )


def migrations(
    database: str, tables: Sequence[TableSpec] = TABLES, views: Sequence[ViewSpec] = VIEWS
) -> list[str]:
    """DDL statements, each safe to run again, that bring ``database`` up to date."""
    return [
        f"CREATE DATABASE IF NOT EXISTS {quote_identifier(database)}",
        *(_table_ddl(database, spec) for spec in tables),
        # tables made before time zones gained the column; a no-op on new ones
        *(
            f"ALTER TABLE {quote_identifier(database)}.{EVENTS_TABLE} "
            "ADD COLUMN IF NOT EXISTS `timezone` LowCardinality(String) DEFAULT ''"
            for spec in tables
            if spec.name == EVENTS_TABLE
        ),
        *(_view_ddl(database, view, "", "") for view in views),
    ]


def _quoted_literal(identifier: str) -> str:
    quote_identifier(identifier)  # plain identifiers need no escaping inside quotes
    return f"'{identifier}'"


def cluster_ddl(
    database: str,
    cluster: str,
    tables: Sequence[TableSpec] = TABLES,
    views: Sequence[ViewSpec] = VIEWS,
) -> list[str]:
    """DDL of ``database`` on the ClickHouse cluster ``cluster`` (named in ``remote_servers``).

    Per table: ``<name>_local`` (``Replicated<engine>``, replicated through Keeper under
    ``/clickhouse/tables/{shard}/{database}/{table}`` with the node's ``{replica}``
    macro) on every node, and ``<name>`` (``Distributed`` over the local tables,
    sharded by the table's ``shard_key``); then each view, on every node, from and into
    the local tables. Each statement is ``ON CLUSTER`` and safe to run again.
    """
    db, on = quote_identifier(database), f"ON CLUSTER {quote_identifier(cluster)}"
    statements = [f"CREATE DATABASE IF NOT EXISTS {db} {on}"]
    for spec in tables:
        local = f"{spec.name}{LOCAL_SUFFIX}"
        replication = ("'/clickhouse/tables/{shard}/{database}/{table}'", "'{replica}'")
        engine = _engine(f"Replicated{spec.engine}", (*replication, *spec.engine_args))
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {db}.{quote_identifier(local)} {on} "
            f"{_columns(spec)} ENGINE = {engine}\n"
            f"{_keys(spec, 'replicated_deduplication_window')}"
        )
        target = ", ".join(
            (_quoted_literal(cluster), _quoted_literal(database), _quoted_literal(local))
        )
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {db}.{quote_identifier(spec.name)} {on} "
            f"{_columns(spec)} ENGINE = Distributed({target}, {spec.shard_key})"
        )
    statements += [_view_ddl(database, view, f" {on}", LOCAL_SUFFIX) for view in views]
    return statements


def script(statements: Sequence[str]) -> str:
    """``statements`` as one script for ``clickhouse-client --multiquery``."""
    return "".join(f"{statement};\n\n" for statement in statements).rstrip("\n") + "\n"
