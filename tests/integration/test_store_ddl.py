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
from sendflowr.store.schema import TABLES, cluster_ddl, migrations


def _format(store: ClickHouseStore, statement: str) -> str:
    formatted: str = store.query("SELECT formatQuery({q:String})", {"q": statement}).scalar()
    return formatted


def test_every_cluster_statement_parses(store: ClickHouseStore) -> None:
    statements = cluster_ddl("sendflowr", "sendflowr_cluster")
    assert len(statements) == 1 + 2 * len(TABLES)
    for statement in statements:
        formatted = _format(store, statement)
        assert _format(store, formatted) == formatted
        assert "ON CLUSTER sendflowr_cluster" in formatted
        if statement.startswith("CREATE TABLE"):
            table = statement.split(".", 1)[1].split(" ", 1)[0].strip("`")
            engine = "ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/{table}'"
            if not table.endswith("_local"):
                engine = f"Distributed('sendflowr_cluster', 'sendflowr', '{table}_local'"
            assert f"ENGINE = {engine}" in formatted


def test_every_embedded_statement_parses_and_runs(store: ClickHouseStore) -> None:
    for statement in migrations(store.database):
        _format(store, statement)
        store.command(statement)  # idempotent: the store ran them at start already


def test_the_parser_does_refuse_a_broken_statement(store: ClickHouseStore) -> None:
    broken = cluster_ddl("sendflowr", "c")[1].replace("ON CLUSTER `c`", "ON CLUSTER")
    with pytest.raises(StoreError):
        _format(store, broken)
