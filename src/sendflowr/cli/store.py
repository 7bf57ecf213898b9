"""``sendflowr store ddl``: the store's DDL, embedded or for a ClickHouse cluster."""

from __future__ import annotations

import click

from sendflowr.cli.context import load_settings
from sendflowr.errors import ConfigError
from sendflowr.store.schema import cluster_ddl, migrations, quote_identifier, script

__all__ = ["store"]


@click.group()
def store() -> None:
    """The ClickHouse store's schema.

    \b
    Example:
      sendflowr store ddl                         # what the store runs at start
      sendflowr store ddl --cluster sendflowr     # Replicated + Distributed, ON CLUSTER
    """


@store.command()
@click.option(
    "--cluster",
    metavar="NAME",
    help="Print the DDL for this ClickHouse cluster (its name in remote_servers).",
)
@click.option(
    "--database",
    metavar="NAME",
    help="Database name (default: SENDFLOWR_CLICKHOUSE_DATABASE, i.e. sendflowr).",
)
def ddl(cluster: str | None, database: str | None) -> None:
    """Print the DDL of every table as a script for `clickhouse-client --multiquery`.

    Without --cluster: the statements the store itself runs at start (embedded chDB
    or one server). With --cluster NAME: for a ClickHouse cluster — per table a
    Replicated…MergeTree `<table>_local` on every node and a Distributed `<table>`
    over them, each ON CLUSTER NAME; the roles then use the cluster unchanged.

    \b
    Example:
      sendflowr store ddl --cluster sendflowr > cluster.sql
      clickhouse-client --host ch1 --multiquery --queries-file cluster.sql
    """
    db = database or load_settings().clickhouse_database
    for name, option in ((db, "--database"), (cluster, "--cluster")):
        if name is not None:
            try:
                quote_identifier(name)
            except ValueError as exc:
                raise ConfigError(str(exc), option=option) from exc
    statements = cluster_ddl(db, cluster) if cluster else migrations(db)
    click.echo(script(statements), nl=False)
