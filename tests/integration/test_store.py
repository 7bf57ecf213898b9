"""The ClickHouse store on real chDB: migrations, dedup tokens, parameters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from sendflowr.errors import StoreError
from sendflowr.store import EVENT_COLUMN_NAMES, ClickHouseStore


def _rows(n: int) -> dict[str, list[object]]:
    now = datetime(2025, 10, 1, 12, 0, tzinfo=UTC)
    return {
        "event_id": [uuid.uuid4() for _ in range(n)],
        "event_type": ["sent"] * n,
        "timestamp": [now] * n,
        "universal_id": [f"sf_{i:016x}" for i in range(n)],
        "metadata": ["{}"] * n,
        "ingested_at": [now] * n,
    }


def test_migrations_are_idempotent_and_create_every_column(store: ClickHouseStore) -> None:
    store.migrate()
    store.migrate()
    columns = store.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'email_events'",
        {"db": store.database},
    )
    assert tuple(r[0] for r in columns.rows) == EVENT_COLUMN_NAMES


def test_replayed_insert_with_same_token_adds_no_rows(store: ClickHouseStore) -> None:
    rows = _rows(500)
    store.insert_columns("email_events", rows, dedup_token="email-events:0:0-499")
    store.insert_columns("email_events", rows, dedup_token="email-events:0:0-499")
    assert store.count_events() == 500
    store.insert_columns("email_events", _rows(10), dedup_token="email-events:0:500-509")
    assert store.count_events() == 510


def test_values_are_bound_not_spliced(store: ClickHouseStore) -> None:
    hostile = "'); DROP TABLE email_events; --\\\" \x00 🌸"
    rows = _rows(1)
    rows["subject"] = [hostile]
    store.insert_columns("email_events", rows)
    got = store.query(
        f"SELECT subject FROM {store.events_table} WHERE subject = {{s:String}}",  # noqa: S608
        {"s": hostile},
    )
    assert got.rows == [(hostile,)]


def test_bad_sql_raises_store_error_with_clickhouse_code(store: ClickHouseStore) -> None:
    with pytest.raises(StoreError) as info:
        store.query("SELEC 1")
    assert info.value.code == 62 or "Syntax error" in str(info.value)
