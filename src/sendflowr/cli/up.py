"""``sendflowr up``: the main job — Kafka, every role, the full history, and proof it landed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date

import click

from sendflowr.cli.context import console, load_settings
from sendflowr.cli.options import parse_day
from sendflowr.cli.sql import render
from sendflowr.clock import SYSTEM_CLOCK
from sendflowr.errors import ConfigError, ServiceError
from sendflowr.generator.world import default_world
from sendflowr.kafka import LocalKafka, ensure_topics, topic_offsets, wait_ready
from sendflowr.serve.daemon import ServeProcess
from sendflowr.settings import Settings
from sendflowr.store.access import read_access
from sendflowr.store.verify import verification_checks

__all__ = ["history_period", "up", "wait_until_stored"]


def history_period(
    today: date, start: str | None = None, end: str | None = None, *, pinned: bool = False
) -> tuple[date, date]:
    """``[first day, day after the last)`` of the history ``up`` generates.

    By default the world's history length (101 days) ending today, so the engine
    decides on fresh evidence; ``pinned`` gives the world file's own period
    (2025-10-01 → 2026-01-10) for reproducible runs; ``start``/``end``
    (YYYY-MM-DD) override either end.
    """
    history = default_world().history
    length = history.end - history.start
    last = parse_day("--end", end) or (history.end if pinned else today)
    first = parse_day("--start", start) or (
        history.start if pinned and not end else last - length
    )  # fmt: skip
    if last <= first:
        raise ConfigError("must be after --start", option="--end")
    return first, last


def _start_kafka(settings: Settings) -> None:
    broker = LocalKafka(settings)
    if settings.kafka_bootstrap_servers == broker.bootstrap:
        began = time.monotonic()
        with console.status("Kafka: starting (first run downloads it from Maven Central)…"):
            started = broker.start()
        state = "started" if started else "already running"
        console.print(f"Kafka {state} on {broker.bootstrap} ({time.monotonic() - began:.1f}s)")
    else:
        wait_ready(settings.kafka_bootstrap_servers)
        ensure_topics(
            settings.kafka_bootstrap_servers,
            [(settings.topic, settings.topic_partitions), (settings.dlq_topic, 1)],
        )
        console.print(f"Kafka at {settings.kafka_bootstrap_servers} answers")


def wait_until_stored(settings: Settings, timeout: float = 300.0) -> int:
    """Block until the sink's group has committed every record of the topic; return the total.

    The sink commits an offset only after ClickHouse acknowledged the rows, so a
    lag of 0 on every partition means every acknowledged event is stored.
    """
    deadline = time.monotonic() + timeout
    bootstrap, topic, group = (
        settings.kafka_bootstrap_servers,
        settings.topic,
        settings.consumer_group,
    )
    while True:
        parts = topic_offsets(bootstrap, topic, group)
        lag = sum(p.high - (p.committed if p.committed is not None else p.low) for p in parts)
        if lag == 0:
            return sum(p.high for p in parts)
        if time.monotonic() > deadline:
            raise ServiceError(f"the sink still lags by {lag} records after {timeout:.0f}s")
        time.sleep(0.2)


@click.command()
@click.option("--seed", type=int, default=42, show_default=True, help="Generator seed.")
@click.option("--count", type=click.IntRange(min=1), help="Quick mode: N events, not the history.")
@click.option(
    "--regenerate", is_flag=True, help="Generate even if this seed's history is already stored."
)
@click.option("--start", help="First day of the history, YYYY-MM-DD (default: --end − 101 days).")
@click.option("--end", help="Day after the history's last, YYYY-MM-DD (default: today, UTC).")
@click.option(
    "--pinned",
    is_flag=True,
    help="The world's fixed period 2025-10-01 → 2026-01-10 (reproducible).",
)
def up(
    seed: int,
    count: int | None,
    regenerate: bool,
    start: str | None,
    end: str | None,
    pinned: bool,
) -> None:
    """Bring up Kafka and every role, generate the full history through the connector,
    wait until the sink stored every acknowledged event, and show the seed's checks.

    Re-running is safe: running services are reused, and a history already stored
    for this seed is not sent again (use --regenerate to send it anyway; stable event
    ids keep the rows unique).

    \b
    The history ends today by default (its last day is yesterday), so decisions use
    fresh evidence; --pinned (or --start/--end) fixes the period for reproducible runs.

    \b
    Example:
      sendflowr up                 # full history ending today, ~90K events
      sendflowr up --pinned        # the same events every day: 2025-10-01 → 2026-01-10
      sendflowr up --count 2000    # quick
    """
    first, last = history_period(SYSTEM_CLOCK.now().date(), start, end, pinned=pinned)
    settings = load_settings()
    began = time.monotonic()
    _start_kafka(settings)
    # The seed's client posts to /api/mock/events/synthetic: on here unless set otherwise.
    os.environ.setdefault("SENDFLOWR_MOCK_ENDPOINTS", "true")
    serve = ServeProcess(settings)
    with console.status("starting sendflowr serve (connector, consumer, inference)…"):
        started = serve.start()
    console.print(
        f"serve {'started' if started else 'already running'} (pid {serve.running_pid()}): "
        f"connector :{settings.connector_port}, inference :{settings.inference_port}; "
        f"log {serve.log_path}"
    )

    marker = settings.home / f"generated-seed{seed}-{count or 'history'}.json"
    if marker.exists() and not regenerate:
        stored = json.loads(marker.read_text())
        period = f"{stored.get('start', '2025-10-01')} → {stored.get('end', '2026-01-10')}"
        console.print(
            f"seed {seed} already generated ({marker.name}, {period}); use --regenerate to resend"
        )
    else:
        args = [sys.executable, "-m", "sendflowr", "generate", "--seed", str(seed)]
        args += ["--start", first.isoformat(), "--end", last.isoformat()]
        args += ["--connector-url", f"http://127.0.0.1:{settings.connector_port}"]
        if count is not None:
            args += ["--count", str(count)]
        if subprocess.run(args, check=False).returncode != 0:
            raise ServiceError("generation failed (see above)")
        marker.write_text(
            json.dumps(
                {"seed": seed, "count": count, "start": first.isoformat(), "end": last.isoformat()}
            )
        )

    with console.status("waiting for the sink to store every acknowledged event…"):
        produced = wait_until_stored(settings)
    console.print(f"sink caught up: {produced} records on {settings.topic} committed")

    with read_access(settings) as store:
        checks = verification_checks(store, settings.clickhouse_database)
    for check in checks:
        console.print(f"\n[bold]{check.title}[/bold]")
        console.print(render(check.result, "table"))
    console.print(
        f"done in {time.monotonic() - began:.1f}s — `sendflowr status` shows what runs, "
        "`sendflowr report` writes the fidelity report, `sendflowr down` stops everything"
    )
