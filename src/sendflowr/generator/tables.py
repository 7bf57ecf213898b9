"""Rich tables of a run: counts by type, channel and persona; sent vs acknowledged."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.table import Table

from sendflowr.generator.run import RunResult

__all__ = ["counts_table", "print_counts", "print_run"]


def counts_table(title: str, rows: Mapping[str, Mapping[str, float]]) -> Table:
    """A table with one row per key of ``rows`` and one column per inner key."""
    table = Table(title=title, title_justify="left")
    table.add_column("")
    first = next(iter(rows.values()), {})
    for col in first:
        table.add_column(col, justify="right")
    for name, values in rows.items():
        table.add_row(name, *(f"{round(v):,}" for v in values.values()))
    return table


def print_counts(
    by_type: Mapping[str, float],
    by_channel: Mapping[str, float],
    by_persona: Mapping[str, float],
    label: str,
    console: Console | None = None,
) -> None:
    """Three tables: counts by event type, by channel and by persona."""
    console = console or Console()
    console.print(counts_table("by event type", {k: {label: v} for k, v in by_type.items()}))
    console.print(counts_table("by channel", {k: {label: v} for k, v in by_channel.items()}))
    console.print(counts_table("by persona", {k: {label: v} for k, v in by_persona.items()}))


def print_run(
    result: RunResult, sink_name: str, dry_run: bool, console: Console | None = None
) -> None:
    """The counts tables and the run table (sent, acknowledged, failed, events/s)."""
    console = console or Console()
    print_counts(result.by_type, result.by_channel, result.by_persona, "events", console)
    stats = result.stats
    rate = result.total / result.elapsed if result.elapsed > 0 else 0.0
    table = Table(title="run", title_justify="left", show_header=False)
    table.add_column("")
    table.add_column("", justify="right")
    table.add_row("users", f"{result.users:,}")
    table.add_row("events generated", f"{result.total:,}")
    if dry_run:
        table.add_row("published", "nothing (dry run)")
    else:
        table.add_row(f"sent ({sink_name})", f"{stats.sent:,}")
        table.add_row("acknowledged", f"{stats.acknowledged:,}")
        table.add_row("failed", f"{stats.failed:,}")
        if stats.requests:
            table.add_row("requests (retries)", f"{stats.requests:,} ({stats.retries:,})")
    table.add_row("elapsed", f"{result.elapsed:.2f} s")
    table.add_row("events/s", f"{rate:,.0f}")
    console.print(table)
