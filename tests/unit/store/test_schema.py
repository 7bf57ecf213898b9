"""Both DDL dialects come from one table description: same tables, same columns."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from sendflowr.cli import main
from sendflowr.store.schema import (
    AGGREGATE_TABLES,
    EVENT_COLUMN_NAMES,
    EVENT_COLUMNS,
    EVENTS_TABLE,
    TABLES,
    VIEWS,
    TableSpec,
    ViewSpec,
    backfill,
    cluster_ddl,
    migrations,
    script,
)

_CREATE = re.compile(r"CREATE TABLE IF NOT EXISTS `(\w+)`\.`?(\w+)`?")
_ENGINE = re.compile(r"ENGINE = (\w+)")


def _tables(statements: list[str]) -> dict[str, str]:
    """Table name → its CREATE TABLE statement."""
    out = {}
    for statement in statements:
        match = _CREATE.match(statement)
        if match:
            out[match.group(2)] = statement
    return out


def _column_names(statement: str) -> list[str]:
    body = statement[statement.index("(\n") + 2 : statement.index("\n) ENGINE")]
    return [line.strip().split(" ", 1)[0].strip("`") for line in body.splitlines()]


def test_embedded_ddl_has_every_table_with_its_columns_and_no_cluster() -> None:
    tables = _tables(migrations("db"))
    assert set(tables) == {spec.name for spec in TABLES}
    for spec in TABLES:
        statement = tables[spec.name]
        assert _column_names(statement) == [name for name, _ in spec.columns]
        assert _ENGINE.findall(statement) == [spec.engine]
        assert "ON CLUSTER" not in statement and "Replicated" not in statement
    assert _column_names(tables[EVENTS_TABLE]) == list(EVENT_COLUMN_NAMES)
    assert "non_replicated_deduplication_window = 100000" in tables[EVENTS_TABLE]


def test_cluster_ddl_has_replicated_and_distributed_tables_with_the_same_columns() -> None:
    statements = cluster_ddl("db", "prod_cluster")
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS `db` ON CLUSTER `prod_cluster`"
    assert all(" ON CLUSTER `prod_cluster` " in s + " " for s in statements)
    tables = _tables(statements)
    assert set(tables) == {n for spec in TABLES for n in (spec.name, f"{spec.name}_local")}
    for spec in TABLES:
        local, distributed = tables[f"{spec.name}_local"], tables[spec.name]
        names = [name for name, _ in spec.columns]
        assert _column_names(local) == _column_names(distributed) == names
        assert _ENGINE.findall(local) == [f"Replicated{spec.engine}"]
        assert "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'" in local
        assert f"ORDER BY {spec.order_by}" in local
        assert (
            f"ENGINE = Distributed('prod_cluster', 'db', '{spec.name}_local', {spec.shard_key})"
            in distributed
        )
    assert "SETTINGS replicated_deduplication_window = 100000" in tables[f"{EVENTS_TABLE}_local"]


def test_a_replacing_table_becomes_replicated_replacing_with_its_version_column() -> None:
    spec = TableSpec(
        name="curves",
        columns=(("universal_id", "String"), ("version", "UInt64")),
        order_by="universal_id",
        engine="ReplacingMergeTree",
        engine_args=("version",),
    )
    (_, embedded) = migrations("db", [spec], ())
    assert "ENGINE = ReplacingMergeTree(version)\n" in embedded
    (_, local, _) = cluster_ddl("db", "c", [spec], ())
    assert (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version)"
    ) in local


def test_a_column_added_to_the_list_reaches_both_dialects() -> None:
    events = next(spec for spec in TABLES if spec.name == EVENTS_TABLE)
    wider = TableSpec(
        name=events.name,
        columns=(*EVENT_COLUMNS, ("timezone", "LowCardinality(String)")),
        order_by=events.order_by,
    )
    for statement in (migrations("db", [wider], ())[1], *cluster_ddl("db", "c", [wider], ())[1:]):
        assert _column_names(statement)[-1] == "timezone"


@pytest.mark.parametrize("bad", ["a-b", "1x", "x`y", ""])
def test_names_that_are_not_plain_identifiers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        cluster_ddl("db", bad)
    with pytest.raises(ValueError, match="identifier"):
        cluster_ddl(bad, "c")


def test_store_ddl_prints_the_embedded_script_or_the_cluster_script() -> None:
    runner = CliRunner()
    plain = runner.invoke(main, ["store", "ddl", "--database", "db"])
    assert plain.exit_code == 0, plain.output
    assert plain.output == script(migrations("db"))
    clustered = runner.invoke(main, ["store", "ddl", "--database", "db", "--cluster", "c"])
    assert clustered.exit_code == 0, clustered.output
    assert clustered.output == script(cluster_ddl("db", "c"))
    bad = runner.invoke(main, ["store", "ddl", "--cluster", "no-dash"])
    assert bad.exit_code == 2 and "--cluster" in bad.output


def test_script_ends_every_statement_with_a_semicolon() -> None:
    text = script(["SELECT 1", "SELECT 2"])
    assert text == "SELECT 1;\n\nSELECT 2;\n"


_VIEW = ViewSpec(
    name="per_recipient_mv",
    source=EVENTS_TABLE,
    target="per_recipient",
    select="SELECT universal_id, countState() AS n FROM {source} GROUP BY universal_id",
)


def test_a_view_reads_and_writes_the_local_tables_on_a_cluster() -> None:
    embedded = migrations("db", [], [_VIEW])[-1]
    assert embedded.startswith(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS `db`.`per_recipient_mv` TO `db`.`per_recipient` AS"
    )
    assert "FROM `db`.`email_events` GROUP BY" in embedded
    clustered = cluster_ddl("db", "c", [], [_VIEW])[-1]
    assert " ON CLUSTER `c` TO `db`.`per_recipient_local` AS" in clustered
    assert "FROM `db`.`email_events_local` GROUP BY" in clustered


def test_a_view_must_read_its_source_placeholder() -> None:
    with pytest.raises(ValueError, match="placeholder"):
        ViewSpec("v", "a", "b", "SELECT 1 FROM a")


def test_every_view_fills_an_aggregate_table_with_all_its_columns_from_the_events() -> None:
    tables = {spec.name: spec for spec in TABLES}
    assert {view.target for view in VIEWS} == {spec.name for spec in AGGREGATE_TABLES}
    for view in VIEWS:
        assert view.source == EVENTS_TABLE
        target = tables[view.target]
        assert target.engine == "AggregatingMergeTree"
        keys = target.order_by.strip("()").split(", ")
        for name, kind in target.columns:
            assert re.search(rf"\b{name}\b", view.select), (view.name, name)
            # merge-safe: a key, or a column whose rows combine by min/max/sum
            assert name in keys or kind.startswith("SimpleAggregateFunction("), name
        assert f"GROUP BY {', '.join(keys)}" in view.select


def test_the_aggregate_tables_keep_a_dedup_window_in_both_dialects() -> None:
    embedded = _tables(migrations("db"))
    clustered = _tables(cluster_ddl("db", "c"))
    for spec in AGGREGATE_TABLES:
        assert "SETTINGS non_replicated_deduplication_window = 100000" in embedded[spec.name]
        local = clustered[f"{spec.name}_local"]
        assert "ReplicatedAggregatingMergeTree(" in local
        assert "SETTINGS replicated_deduplication_window = 100000" in local


def test_backfill_fills_the_target_from_the_source_with_the_views_select() -> None:
    for view in VIEWS:
        statement = backfill("db", view)
        assert statement.startswith(f"INSERT INTO `db`.`{view.target}`\n")
        assert "FROM `db`.`email_events`" in statement
        assert statement.split("\n", 1)[1] == view.select.replace("{source}", "`db`.`email_events`")
