"""``sendflowr train latency``: fit the delivery-latency model on the stored delivered events."""

from __future__ import annotations

import click
from rich.table import Table

from sendflowr.cli.context import console, load_settings
from sendflowr.errors import ConfigError
from sendflowr.store.access import read_access
from sendflowr.timing.training import CONSTANT_SECONDS, fit_latency, load_deliveries

__all__ = ["train"]


@click.group()
def train() -> None:
    """Train SendFlowr's models on the stored events.

    \b
    Example:
      sendflowr train latency
    """


@train.command()
@click.option(
    "--holdout",
    default=0.2,
    show_default=True,
    type=float,
    help="Share of the latest sends held out for the reported MAE.",
)
def latency(holdout: float) -> None:
    """Fit the latency model on delivered events and save a versioned artifact.

    Prints the held-out mean absolute error of the model, the heuristic fallback
    and a constant 300 s; writes SENDFLOWR_HOME/models/latency/<version>.json
    (with its feature list) and points LATEST at it. A running inference role
    picks it up at its next curve refresh.

    \b
    Example:
      sendflowr train latency --holdout 0.2
    """
    if not 0.0 < holdout < 1.0:
        raise ConfigError("must be between 0 and 1", option="--holdout")
    settings = load_settings()
    with read_access(settings) as store:
        frame = load_deliveries(store, settings.clickhouse_database)
    model, report = fit_latency(frame, holdout=holdout)
    path = model.save(settings.latency_model_dir)
    table = Table("predictor", "held-out MAE (s)", "vs constant")
    for name, mae in (
        ("model", report.model_mae),
        ("heuristic", report.heuristic_mae),
        (f"constant {CONSTANT_SECONDS:.0f} s", report.constant_mae),
    ):
        table.add_row(name, f"{mae:.2f}", f"{mae / report.constant_mae:.3f}")
    console.print(
        f"trained on {report.train_rows} sends, evaluated on {report.test_rows} later sends"
    )
    console.print(table)
    console.print(f"artifact: {path} ({len(model.features)} features)")
