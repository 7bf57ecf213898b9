"""``sendflowr experiment``: the closed loop — what the engine's decisions earn when acted on."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import httpx
import orjson
from rich.table import Table

from sendflowr.cli.context import console, load_settings
from sendflowr.cli.options import parse_day, users_option, world_option
from sendflowr.clock import ManualClock
from sendflowr.errors import ConfigError
from sendflowr.experiment import (
    ARMS,
    EngineStrategy,
    FixedStrategy,
    HourlyStrategy,
    OracleStrategy,
    RandomStrategy,
    Strategy,
    build_design,
    run_loop,
    summarise,
)
from sendflowr.generator import model_for
from sendflowr.generator.model import date_ms
from sendflowr.generator.world import load_world

__all__ = ["experiment", "print_results"]


def _fmt(x: float | None, digits: int = 4) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _ci(pair: list[float | None]) -> str:
    return f"[{_fmt(pair[0])}, {_fmt(pair[1])}]"


def print_results(results: dict[str, Any]) -> None:
    """The arms and lifts as tables."""
    table = Table(title="Arms (per delivered message; 95% CI by bootstrap over recipients)")
    for col in ("arm", "sends", "delivered", "expected clicks", "CI", "clicks", "opens",
                "suppressed", "≤30 min after hot path", "cancelled"):  # fmt: skip
        table.add_column(col, justify="left" if col == "arm" else "right")
    for name in ARMS:
        a = results["arms"][name]
        table.add_row(
            name, str(a["sends"]), str(a["delivered"]),
            _fmt(a["expected_clicks_per_delivered"]), _ci(a["ci95"]),
            _fmt(a["clicks_per_delivered"]), _fmt(a["opens_per_delivered"]),
            str(a["suppressed_sends"]), str(a["sends_within_30_min_after_hot_path"]),
            str(a["cancelled"]),
        )  # fmt: skip
    console.print(table)
    lifts = Table(title="Lift in expected clicks per delivered message (ratio, 95% CI)")
    for col in ("arm", "vs fixed", "vs hourly", "share of oracle"):
        lifts.add_column(col)
    for name in ARMS:
        cells = []
        for key in ("lift_vs_fixed", "lift_vs_hourly", "share_of_oracle"):
            v = results[key].get(name)
            cells.append("–" if v is None else f"{_fmt(v['ratio'], 3)} {_ci(v['ci95'])}")
        lifts.add_row(name, *cells)
    console.print(lifts)


@click.command()
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of world and arms.")
@click.option("--weeks", type=click.IntRange(1, 52), default=4, show_default=True)
@users_option
@click.option("--warmup-start", help="First day of the warm-up, YYYY-MM-DD (default: the world's).")
@click.option(
    "--start", help="First experiment day, YYYY-MM-DD (default: the end of the world's history)."
)
@world_option
@click.option(
    "--engine",
    type=click.Choice(["api", "random"]),
    default="api",
    show_default=True,
    help="The sendflowr arm: the inference API, or random minutes (checks the instrument).",
)
@click.option(
    "--explore-share",
    type=click.FloatRange(0, 1),
    help="Exploration share asked of the engine (default: the engine's own).",
)
@click.option(
    "--step-minutes",
    type=click.IntRange(1, 60),
    default=60,
    show_default=True,
    help="Simulated step: the sendflowr arm's sends are re-decided at the step before they fire.",
)
@click.option("--resamples", type=click.IntRange(100, 100_000), default=1000, show_default=True)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write every figure.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write DIR/experiment.html (plots: lift by arm, per persona).",
)
def experiment(
    seed: int,
    weeks: int,
    users: int | None,
    warmup_start: str | None,
    start: str | None,
    world_path: Path | None,
    engine: str,
    explore_share: float | None,
    step_minutes: int,
    resamples: int,
    json_path: Path | None,
    output: Path | None,
) -> None:
    """Run the closed loop: a warm-up history through the real flow, then WEEKS simulated
    weeks where every campaign send goes to one arm (fixed, hourly STO, sendflowr, oracle),
    responses drawn from the behaviour model; figures with bootstrap intervals.

    Runs its own connector, sink and inference in this process (the engine on the
    simulation's clock) against the Kafka broker (started if it is not running).

    \b
    Example:
      sendflowr experiment --seed 42 --json out/experiment.json --output out/
    """
    began = time.monotonic()
    model = model_for(load_world(world_path))
    history = model.world.history
    first = parse_day("--warmup-start", warmup_start) or history.start
    begin = parse_day("--start", start) or history.end
    if begin <= first:
        raise ConfigError("must be after --warmup-start", option="--start")
    n_users = users if users is not None else history.users
    design = build_design(model, seed, n_users, first, begin, weeks)
    console.print(
        f"Experiment seed {seed}: {n_users} users, warm-up {first} → {begin} "
        f"({len(design.warmup):,} events), {weeks} weeks to {begin + timedelta(weeks=weeks)}: "
        f"{len(design.schedule):,} campaign sends"
    )
    uids = design.universal_ids()
    clock = ManualClock.at_ms(date_ms(begin))
    from sendflowr.experiment.stack import FlowFeed, Stack, StoreHistory, experiment_settings
    from sendflowr.kafka import LocalKafka

    base = load_settings()
    broker = LocalKafka(base)
    started_broker = False
    if base.kafka_bootstrap_servers == broker.bootstrap and broker.running_pid() is None:
        with console.status("Kafka: starting…"):
            started_broker = broker.start()
    run_id = f"seed{seed}-{int(time.time())}"
    settings = experiment_settings(base, run_id)
    stack = Stack(settings, clock)
    try:
        with console.status("starting connector, sink and inference (in-process)…"):
            stack.start()
        console.print(
            f"connector {stack.connector_url}, inference {stack.inference_url} "
            f"(clock: simulated), topic {settings.topic}, store {settings.clickhouse_path}"
        )
        feed = FlowFeed(model, stack.connector_url, stack.store())
        with httpx.Client(base_url=stack.inference_url, timeout=120) as client:
            sendflowr: Strategy = (
                EngineStrategy(client, model, uids, explore_share=explore_share)
                if engine == "api"
                else RandomStrategy(seed, "sendflowr", _send_minutes(model))
            )
            strategies: dict[str, Strategy] = {
                "fixed": FixedStrategy(),
                "hourly": HourlyStrategy(StoreHistory(stack.store()), uids),
                "sendflowr": sendflowr,
                "oracle": OracleStrategy(model, design.truths, seed),
            }

            def progress(day: int, days: int) -> None:
                console.print(
                    f"  day {day + 1}/{days} done ({time.monotonic() - began:.0f}s)",
                    highlight=False,
                )

            run = run_loop(design, strategies, feed, clock=clock, step_minutes=step_minutes,
                           on_day=progress)  # fmt: skip
            calls = getattr(sendflowr, "calls", 0)
            skipped = getattr(sendflowr, "skipped", 0)
    finally:
        feed.close() if "feed" in locals() else None
        stack.stop()
        if started_broker:
            broker.stop()
    results = summarise(run, resamples=resamples, seed=seed)
    results["config"] = {
        "seed": seed, "users": n_users, "weeks": weeks, "warmup_start": str(first),
        "start": str(begin), "engine": engine, "explore_share": explore_share,
        "step_minutes": step_minutes, "campaign_sends": len(design.schedule),
        "warmup_events": len(design.warmup),
    }  # fmt: skip
    results["run"] = {
        "wall_seconds": round(time.monotonic() - began, 1),
        "engine_calls": calls,
        "engine_skipped": skipped,
        "events_acknowledged": feed.acknowledged,
        "publish_s": round(feed.publish_s, 2),
        "sync_s": round(feed.sync_s, 2),
        **{k: round(v, 2) for k, v in run.timings.items()},
    }
    print_results(results)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))
        console.print(f"figures written to {json_path}")
    if output is not None:
        from sendflowr.report.experiment import write_page

        page = write_page(results, output)
        console.print(f"page written to {page}")
    console.print(f"done in {time.monotonic() - began:.0f}s")


def _send_minutes(model: Any) -> tuple[int, int]:
    sends = model.world.sends
    return int(sends.first_minute), int(sends.last_minute)
