"""ClickHouse store: schema, migrations and the client over chDB or a server."""

from sendflowr.store.clickhouse import ClickHouseStore, QueryResult
from sendflowr.store.schema import EVENT_COLUMN_NAMES, EVENT_COLUMNS, EVENTS_TABLE

__all__ = ["EVENTS_TABLE", "EVENT_COLUMNS", "EVENT_COLUMN_NAMES", "ClickHouseStore", "QueryResult"]
