"""``sendflowr report``: the fidelity report as a self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from sendflowr.cli.context import console, load_settings
from sendflowr.report import load_world_dict, write_report
from sendflowr.store.access import read_access

__all__ = ["report"]


@click.command()
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("sendflowr-report"),
    show_default=True,
    help="Folder to write report.html into.",
)
@click.option(
    "--world",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="World file the data was generated with (default: the shipped one).",
)
@click.option(
    "--truth",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The generator's --truth file: adds a section checking the data against it.",
)
def report(output: Path, world: Path | None, truth: Path | None) -> None:
    """Measure every behaviour of the model (docs/behaviour-model.md) in the stored data and
    write an HTML report with plots (latency by minute, engagement heat maps, fatigue, hot
    paths, circuit breakers, event mix) and a pass/fail per expectation. Works while `serve`
    runs.

    \b
    Example:
      sendflowr report --output out/ && xdg-open out/report.html
      sendflowr report --truth truth.jsonl   # with the generator's ground truth
    """
    settings = load_settings()
    world_dict = load_world_dict(world)
    with read_access(settings) as store, console.status("measuring…"):
        path, sections = write_report(store, settings.clickhouse_database, output, world=world_dict)
    table = Table("expectation", "measured", "target", "result", title="Fidelity")
    colours = {"pass": "green", "fail": "red", "info": "dim"}
    for section in sections:
        for e in section.expectations:
            table.add_row(e.name, e.measured, e.target, f"[{colours[e.status]}]{e.status}")
    console.print(table)
    console.print(f"report written to {path}")
