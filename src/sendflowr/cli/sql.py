"""``sendflowr sql``: run a query against the store and print it."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from typing import Any
from uuid import UUID

import click
from rich.table import Table

from sendflowr.cli.context import console, load_settings
from sendflowr.errors import ConfigError
from sendflowr.store import QueryResult
from sendflowr.store.access import read_access
from sendflowr.store.formatted import format_clause

__all__ = ["render", "sql"]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def render(result: QueryResult, fmt: str) -> str | Table:
    """The result as a rich table, CSV text or JSON lines."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[_plain(v) for v in row] for row in result.rows])
        return buf.getvalue().rstrip("\n")
    if fmt == "json":
        return "\n".join(
            json.dumps(dict(zip(result.columns, map(_plain, row), strict=True)), ensure_ascii=False)
            for row in result.rows
        )
    table = Table(*result.columns, show_lines=False)
    for row in result.rows:
        table.add_row(*("NULL" if v is None else str(_plain(v)) for v in row))
    return table


@click.command()
@click.argument("query")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
    help="Output format (for a query without its own FORMAT clause).",
)
@click.pass_context
def sql(ctx: click.Context, query: str, fmt: str) -> None:
    """Run QUERY on the store (chDB, or CLICKHOUSE_URL) and print the rows.

    While `sendflowr serve` owns the embedded store, the query runs inside it
    through its loopback admin API, authenticated with the token serve wrote to
    SENDFLOWR_HOME/admin.token: only SELECT, WITH, DESCRIBE, SHOW and EXPLAIN over
    the SendFlowr database, no table function that reaches files, URLs, other
    databases or the host, no SETTINGS or INTO OUTFILE, 30 s and 1 GiB at most.
    A query ending in a FORMAT clause prints ClickHouse's own output of that
    format, as clickhouse-client would.

    \b
    Example:
      sendflowr sql "SELECT count() FROM sendflowr.email_events WHERE universal_id LIKE 'sf_%'"
      sendflowr sql "SELECT * FROM sendflowr.email_events LIMIT 1 FORMAT Vertical"
    """
    if format_clause(query):
        if ctx.get_parameter_source("fmt") is click.core.ParameterSource.COMMANDLINE:
            raise ConfigError("the query names its own FORMAT; drop one", option="--format")
        with read_access(load_settings()) as store:
            text = store.query_text(query.rstrip().rstrip(";"))
        click.echo(text, nl=not text.endswith("\n"))
        return
    with read_access(load_settings()) as store:
        result = store.query(query)
    out = render(result, fmt)
    if isinstance(out, str):
        click.echo(out)
    else:
        console.print(out)
