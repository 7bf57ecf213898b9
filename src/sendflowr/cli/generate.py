"""``sendflowr generate``: the seed's synthetic data generator (also its script)."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sendflowr.cli.context import console, err_console, load_settings
from sendflowr.cli.options import connector_url_option, parse_day, users_option, world_option
from sendflowr.errors import ConfigError, ServiceError
from sendflowr.generator import model_for, parse_shard
from sendflowr.generator.model import Model
from sendflowr.generator.outputs.base import DryRunOutput, Output
from sendflowr.generator.run import Plan, run
from sendflowr.generator.summary import expected_counts
from sendflowr.generator.tables import print_counts, print_run
from sendflowr.generator.truth import TruthWriter
from sendflowr.generator.world import load_world
from sendflowr.progress import ProgressLine

__all__ = ["generate"]

_SINKS = ("connector", "kafka", "jsonl", "parquet", "store")


def _make_sink(
    model: Model,
    sink: str,
    output: Path | None,
    url: str,
    batch_size: int,
    concurrency: int,
    rate: float,
) -> Output:
    if sink in ("jsonl", "parquet"):
        if output is None:
            raise ConfigError(f"--sink {sink} needs --output FILE", option="--output")
        from sendflowr.generator.outputs.files import JsonlOutput, ParquetOutput

        return JsonlOutput(model, output) if sink == "jsonl" else ParquetOutput(model, output)
    settings = load_settings()
    if sink == "store":
        from sendflowr.generator.outputs.store import StoreOutput
        from sendflowr.store import ClickHouseStore

        return StoreOutput(model, ClickHouseStore(settings), stop_store=True)
    if sink == "kafka":
        from sendflowr.generator.outputs.kafka import KafkaOutput

        return KafkaOutput(model, settings)
    from sendflowr.generator.outputs.connector import ConnectorOutput

    key = settings.api_key.get_secret_value() if settings.api_key else None
    return ConnectorOutput(
        model, url, batch_size=batch_size, concurrency=concurrency, rate=rate, api_key=key
    )


@contextlib.contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Progress with events/s and ETA: a bar on a terminal; in a log or pipe (long runs under
    nohup, CI) a plain line every 10 s, as rich draws nothing there."""
    if not enabled or not err_console.is_terminal:
        line = ProgressLine("generate", total, every=10.0, enabled=enabled)
        yield line.advance
        line.close()
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("events", total=total, rate="")
        began = time.monotonic()

        def advance(n: int) -> None:
            bar.advance(task, n)
            done = bar.tasks[0].completed
            elapsed = max(time.monotonic() - began, 1e-9)
            bar.update(task, rate=f"{done / elapsed:,.0f} ev/s")

        yield advance


@click.command()
@click.option(
    "--count",
    type=click.IntRange(min=1),
    help="Quick mode: generate N events (users in order until N).",
)
@click.option(
    "--dry-run", is_flag=True, help="Generate and report what would be sent; publish nothing."
)
@click.option("--summary", is_flag=True, help="Show what would be generated, without generating.")
@click.option("--seed", type=int, help="Random seed (default: a fresh one, always printed).")
@users_option
@click.option("--start", help="First day, YYYY-MM-DD (default 2025-10-01).")
@click.option("--end", help="Day after the last, YYYY-MM-DD (default 2026-01-10).")
@world_option
@connector_url_option
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=500,
    show_default=True,
    help="Events per request.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Requests in flight.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    default=100.0,
    show_default=True,
    help="Requests per second (each carries a batch).",
)
@click.option(
    "--shard",
    help="I/N: generate only users with index % N == I (the union of all shards is the whole run).",
)
@click.option(
    "--sink",
    type=click.Choice(_SINKS),
    default="connector",
    show_default=True,
    help="Where events go (store: straight into ClickHouse, the bulk-load path).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File for --sink jsonl|parquet.",
)
@click.option(
    "--truth",
    "truth_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write per-user ground truth (JSON lines) to FILE.",
)
@click.option(
    "--progress/--no-progress",
    default=True,
    help="Progress with events/s and ETA: a bar on a terminal, else a line every 10 s.",
)
def generate(
    count: int | None,
    dry_run: bool,
    summary: bool,
    seed: int | None,
    users: int | None,
    start: str | None,
    end: str | None,
    world_path: Path | None,
    connector_url: str | None,
    batch_size: int,
    concurrency: int,
    rate: float,
    shard: str | None,
    sink: str,
    output: Path | None,
    truth_path: Path | None,
    progress: bool,
) -> None:
    """Generate synthetic engagement events and send them through the connector.

    No option: the full history (2025-10-01 to 2026-01-10, 350 users, ~80-100K
    events). Same seed and options give identical events, event ids included.

    \b
    Examples:
      sendflowr generate --count 100
      sendflowr generate --dry-run --count 100
      sendflowr generate --summary
      sendflowr generate --seed 42 --sink parquet --output events.parquet --truth truth.jsonl
    """
    model = model_for(load_world(world_path))
    history = model.world.history
    first = parse_day("--start", start) or history.start
    last = parse_day("--end", end) or history.end
    if last <= first:
        raise ConfigError("must be after --start", option="--end")
    parsed_shard = parse_shard(shard)
    if count is not None and parsed_shard.count > 1:
        raise ConfigError(
            "cannot be combined with --count (shard the full history)", option="--shard"
        )
    n_users = users if users is not None else history.users
    if summary:
        expected = expected_counts(model, n_users, first, last)
        console.print(f"Expected data summary (world {model.world.name!r})")
        console.print(f"Users: {n_users}   Date range: {first} to {last} ({expected.days} days)")
        console.print(f"Expected events: ~{round(expected.total):,}")
        if count is not None:
            console.print(f"Quick mode: the first {count:,} of them (users in order)")
        print_counts(
            expected.by_type, expected.by_channel, expected.by_persona, "expected", console
        )
        return
    used_seed = seed if seed is not None else secrets.randbits(32)
    plan = Plan(
        model=model,
        seed=used_seed,
        start=first,
        end=last,
        users=users if count is not None else n_users,
        shard=parsed_shard,
        count=count,
    )
    url = connector_url or _default_url()
    target: Output = (
        DryRunOutput()
        if dry_run
        else _make_sink(model, sink, output, url, batch_size, concurrency, rate)
    )
    mode = (
        f"quick mode: {count:,} events"
        if count is not None
        else f"full history: {n_users} users, {first} to {last}"
    )
    console.print(f"Generating ({mode}), seed {used_seed} (repeat with --seed {used_seed})")
    console.print(
        "Dry run: nothing will be published"
        if dry_run
        else f"Sink: {target.name}" + (f" → {url}" if target.name == "connector" else "")
    )
    total = count or round(expected_counts(model, n_users, first, last).total / parsed_shard.count)
    with contextlib.ExitStack() as stack:
        advance = stack.enter_context(_progress(total, progress))
        writer: TruthWriter | None = None
        if truth_path is not None:
            import msgspec

            params = {p.name: msgspec.to_builtins(p) for p in model.world.personas}
            writer = stack.enter_context(TruthWriter(truth_path, params))
        result = run(
            plan,
            target,
            on_progress=advance,
            on_truths=writer.write if writer is not None else None,
        )
    print_run(result, target.name, dry_run, console)
    if dry_run:
        requests = -(-result.total // batch_size)
        console.print(
            f"Would send {result.total:,} events in {requests:,} requests of ≤ {batch_size} "
            f"(at ≤ {rate:g} requests/s: ≥ {requests / rate:.1f} s)"
        )
    if writer is not None:
        console.print(f"Truth of {writer.written} users written to {truth_path}")
    if result.stats.failed:
        errors = getattr(target, "errors", [])
        raise ServiceError(
            f"{result.stats.failed:,} events were not acknowledged"
            + (f": {errors[0]}" if errors else "")
        )
    if not dry_run and target.name == "connector":
        console.print(
            "Verify: sendflowr sql "
            "\"SELECT count() FROM sendflowr.email_events WHERE universal_id LIKE 'sf_%'\""
        )


def _default_url() -> str:
    settings = load_settings()
    return f"http://{settings.host}:{settings.connector_port}"
