"""The ClickHouse store on real chDB: migrations, dedup tokens, parameters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from sendflowr.errors import ConfigError, StoreError
from sendflowr.store import EVENT_COLUMN_NAMES, ClickHouseStore
from sendflowr.store.schema import VIEWS


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


def test_a_table_made_before_time_zones_gains_the_timezone_column(store: ClickHouseStore) -> None:
    store.migrate()
    for view in VIEWS:  # the views came after time zones: an older store has none
        store.command(f"DROP VIEW `{store.database}`.`{view.name}`")
    store.command(f"ALTER TABLE {store.events_table} DROP COLUMN timezone")
    store.insert_columns("email_events", _rows(3))
    store.migrate()
    got = store.query(f"SELECT count(), countIf(timezone = '') FROM {store.events_table}")  # noqa: S608
    assert got.rows == [(3, 3)]
    rows = _rows(1)
    rows["timezone"] = ["Asia/Kolkata"]
    store.insert_columns("email_events", rows)
    got = store.query(f"SELECT timezone FROM {store.events_table} WHERE timezone != ''")  # noqa: S608
    assert got.rows == [("Asia/Kolkata",)]


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


def test_url_path_runs_the_same_ddl_and_dedup(make_settings: Any, store: ClickHouseStore) -> None:
    """CLICKHOUSE_URL goes through clickhouse-connect's DSN path, as for a server.

    No current ClickHouse server can be installed here, so the DSN names this
    process's chDB folder: the same client code, migrations and insert settings
    a server gets.
    """
    path = make_settings().clickhouse_path.resolve()
    settings = make_settings(
        clickhouse_url=f"chdb://{path}", clickhouse_database=f"{store.database}_url"
    )
    via_url = ClickHouseStore(settings)
    assert not via_url.embedded
    via_url.start()
    try:
        via_url.migrate()
        rows = _rows(50)
        via_url.insert_columns("email_events", rows, dedup_token="url:0:0-49")
        via_url.insert_columns("email_events", rows, dedup_token="url:0:0-49")
        assert via_url.count_events() == 50
    finally:
        via_url.command(f"DROP DATABASE IF EXISTS `{via_url.database}`")
        via_url.stop()


def test_an_embedded_arrow_read_is_read_in_place_not_into_pyarrows_pool(
    store: ClickHouseStore,
) -> None:
    """The engine's uncompressed Arrow result is read where it lies: nothing is decompressed
    into pyarrow's pool (whose allocator kept freed pages resident after a curve fit)."""
    pool = pa.default_memory_pool()
    before = pool.bytes_allocated()
    table = store.query_arrow(
        "SELECT number AS n, toString(number) AS s FROM numbers({n:UInt32})", {"n": 200_000}
    )
    assert table.num_rows == 200_000 and table.column("s")[199_999].as_py() == "199999"
    assert pool.bytes_allocated() - before < table.nbytes // 100


def test_the_embedded_engine_purges_its_freed_memory_and_a_server_is_left_alone(
    make_settings: Any, store: ClickHouseStore
) -> None:
    assert store.release_memory()
    path = make_settings().clickhouse_path.resolve()
    via_url = ClickHouseStore(make_settings(clickhouse_url=f"chdb://{path}"))
    assert not via_url.release_memory()  # not started, and not this process's engine


def test_clickhouse_url_must_be_http_or_chdb(make_settings: Any) -> None:
    with pytest.raises(ConfigError, match="CLICKHOUSE_URL"):
        ClickHouseStore(make_settings(clickhouse_url="ftp://nowhere")).start()
