"""Every DDL statement, embedded and cluster, parses in the engine we have (chDB).

A cluster cannot run here (no Keeper, no second node), so the cluster DDL is
parsed, not executed: ``formatQuery`` runs ClickHouse's own parser and fails on
any syntax error; the formatted text must parse again to itself and keep the
clauses that make it a cluster's DDL.
"""

from __future__ import annotations

import pytest

from sendflowr.errors import StoreError
from sendflowr.store import ClickHouseStore
from sendflowr.store.schema import (
    DEDUP_WINDOW,
    TABLES,
    VIEWS,
    TableSpec,
    ViewSpec,
    cluster_ddl,
    migrations,
)
from tests.conftest import unique_name


def _format(store: ClickHouseStore, statement: str) -> str:
    formatted: str = store.query("SELECT formatQuery({q:String})", {"q": statement}).scalar()
    return formatted


def test_every_cluster_statement_parses(store: ClickHouseStore) -> None:
    statements = cluster_ddl("sendflowr", "sendflowr_cluster")
    assert len(statements) == 1 + 2 * len(TABLES) + len(VIEWS)
    engines = {spec.name: spec.engine for spec in TABLES}
    views = 0
    for statement in statements:
        formatted = _format(store, statement)
        assert _format(store, formatted) == formatted
        assert "ON CLUSTER sendflowr_cluster" in formatted
        if statement.startswith("CREATE TABLE"):
            table = statement.split(".", 1)[1].split(" ", 1)[0].strip("`")
            name = table.removesuffix("_local")
            engine = (
                f"Replicated{engines[name]}('/clickhouse/tables/{{shard}}/{{database}}/{{table}}'"
            )
            if not table.endswith("_local"):
                engine = f"Distributed('sendflowr_cluster', 'sendflowr', '{table}_local'"
            assert f"ENGINE = {engine}" in formatted
        if statement.startswith("CREATE MATERIALIZED VIEW"):
            views += 1
            assert "FROM sendflowr.email_events_local" in formatted
            assert " TO sendflowr." in formatted and "_local" in formatted.split(" AS")[0]
    assert views == len(VIEWS) == 4


def test_every_embedded_statement_parses_and_runs(store: ClickHouseStore) -> None:
    for statement in migrations(store.database):
        _format(store, statement)
        store.command(statement)  # idempotent: the store ran them at start already


def test_the_parser_does_refuse_a_broken_statement(store: ClickHouseStore) -> None:
    broken = cluster_ddl("sendflowr", "c")[1].replace("ON CLUSTER `c`", "ON CLUSTER")
    with pytest.raises(StoreError):
        _format(store, broken)


_EVENTS = TableSpec(
    name="events",
    columns=(("universal_id", "String"), ("event_type", "LowCardinality(String)")),
    order_by="universal_id",
    dedup_window=DEDUP_WINDOW,
    shard_key="cityHash64(universal_id)",
)
_CLICKS = TableSpec(
    name="clicks",
    columns=(("universal_id", "String"), ("clicks", "AggregateFunction(count)")),
    order_by="universal_id",
    engine="AggregatingMergeTree",
    shard_key="cityHash64(universal_id)",
)
_VIEW = ViewSpec(
    name="clicks_mv",
    source="events",
    target="clicks",
    select=(
        "SELECT universal_id, countState() AS clicks FROM {source} "
        "WHERE event_type = 'clicked' GROUP BY universal_id"
    ),
)


def test_an_aggregating_view_runs_embedded_and_parses_for_a_cluster(
    store: ClickHouseStore,
) -> None:
    database = unique_name("views")
    try:
        for statement in migrations(database, [_EVENTS, _CLICKS], [_VIEW]):
            store.command(statement)
        store.command(
            f"INSERT INTO `{database}`.events VALUES "  # noqa: S608
            "('a', 'clicked'), ('a', 'opened'), ('a', 'clicked'), ('b', 'clicked')"
        )
        rows = store.query(
            f"SELECT universal_id, countMerge(clicks) FROM `{database}`.clicks "  # noqa: S608
            "GROUP BY universal_id ORDER BY universal_id"
        ).rows
        assert rows == [("a", 2), ("b", 1)]
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{database}`")
    for statement in cluster_ddl("sendflowr", "c", [_EVENTS, _CLICKS], [_VIEW]):
        formatted = _format(store, statement)
        assert _format(store, formatted) == formatted
    assert "ReplicatedAggregatingMergeTree(" in _format(
        store, cluster_ddl("sendflowr", "c", [_CLICKS])[1]
    )
