"""``sendflowr simulate``: the generator's live mode — the world run forward on a clock."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import click

from sendflowr.cli.context import console, err_console, load_settings
from sendflowr.cli.options import connector_url_option, users_option, world_option
from sendflowr.errors import ConfigError, ServiceError
from sendflowr.generator import model_for
from sendflowr.generator.live import LiveRun, LiveSource, LiveStats
from sendflowr.generator.outputs.base import DryRunOutput, Output
from sendflowr.generator.world import load_world

__all__ = ["parse_speed", "parse_time", "simulate"]


def parse_time(option: str, text: str | None) -> datetime | None:
    """An ISO date or time (UTC when no zone is given); ``now`` is the wall clock."""
    if text is None:
        return None
    if text == "now":
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(
            f"expected an ISO time such as 2026-01-10T08:00Z, got {text!r}", option=option
        ) from None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def parse_speed(text: str) -> float | None:
    """``max`` (None: as fast as the pipeline takes) or simulated seconds per wall second."""
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise ConfigError(f"expected a number or 'max', got {text!r}", option="--speed") from None
    if speed <= 0:
        raise ConfigError("must be positive", option="--speed")
    return speed


@click.command()
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option("--start", help="Simulated start time, ISO (default: now).")
@click.option("--until", help="Simulated end time, ISO (default: run until Ctrl-C).")
@click.option(
    "--speed",
    default="1",
    show_default=True,
    help="Simulated seconds per wall second, or 'max' (as fast as the pipeline takes).",
)
@users_option
@world_option
@connector_url_option
@click.option("--dry-run", is_flag=True, help="Run the clock and count events; publish nothing.")
@click.option("--progress/--no-progress", default=True, help="Print simulated time and events/s.")
def simulate(
    seed: int,
    start: str | None,
    until: str | None,
    speed: str,
    users: int | None,
    world_path: Path | None,
    connector_url: str | None,
    dry_run: bool,
    progress: bool,
) -> None:
    """Run the world forward on a clock, sending each event through the connector when it
    happens, in time order (the generator's behaviour model, one seeded stream per user).

    Ctrl-C stops after the batch in flight: nothing is half-sent.

    \b
    Examples:
      sendflowr simulate                                  # live from now, real time
      sendflowr simulate --speed 3600 --until 2026-12-03  # an hour a second
      sendflowr simulate --speed max --start 2026-01-10 --until 2026-01-17 --dry-run
    """
    settings = load_settings()
    model = model_for(load_world(world_path))
    begin = parse_time("--start", start) or datetime.now(UTC)
    end = parse_time("--until", until)
    if end is not None and end <= begin:
        raise ConfigError("must be after --start", option="--until")
    rate = parse_speed(speed)
    url = connector_url or f"http://{settings.host}:{settings.connector_port}"
    target: Output
    if dry_run:
        target = DryRunOutput()
    else:
        from sendflowr.generator.outputs.connector import ConnectorOutput

        key = settings.api_key.get_secret_value() if settings.api_key else None
        # One request in flight: the connector receives the events in time order.
        target = ConnectorOutput(
            model, url, batch_size=2000, concurrency=1, rate=1000.0, api_key=key
        )
    source = LiveSource(model, seed, begin, users=users)
    # At max speed each release covers six simulated hours (fewer, larger requests).
    live = LiveRun(source, target, start=begin, speed=rate, until=end, step_ms=6 * 3_600_000)

    def interrupted(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        live.stop()

    previous = signal.signal(signal.SIGINT, interrupted)
    last_print = [0.0]

    def show(stats: LiveStats) -> None:
        now = time.monotonic()
        if progress and now - last_print[0] >= 1.0:
            last_print[0] = now
            at = datetime.fromtimestamp(stats.sim_ms / 1000, tz=UTC)
            err_console.print(
                f"simulated {at:%Y-%m-%d %H:%M:%S}Z  events {stats.events:,}  "
                f"{stats.events_per_second:,.0f} ev/s",
                highlight=False,
            )

    where = "dry run" if dry_run else f"→ {url}"
    console.print(
        f"Simulating from {begin:%Y-%m-%d %H:%M:%S}Z"
        + (f" until {end:%Y-%m-%d %H:%M:%S}Z" if end else " (Ctrl-C stops)")
        + f" at {'max speed' if rate is None else f'{rate:g}×'}, seed {seed}, {where}"
    )
    try:
        stats = live.run(show)
    finally:
        signal.signal(signal.SIGINT, previous)
    at = datetime.fromtimestamp(stats.sim_ms / 1000, tz=UTC)
    console.print(
        f"Released {stats.events:,} events up to {at:%Y-%m-%d %H:%M:%S}Z in "
        f"{stats.wall_seconds:.1f}s ({stats.events_per_second:,.0f} events/s)"
    )
    failed = target.stats.failed
    if failed:
        errors = getattr(target, "errors", [])
        raise ServiceError(
            f"{failed:,} events were not acknowledged" + (f": {errors[0]}" if errors else "")
        )
