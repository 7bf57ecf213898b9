"""``sendflowr status``: what runs, topic offsets, consumer lag and row counts."""

from __future__ import annotations

import click
import httpx
from rich.table import Table

from sendflowr.cli.context import console, load_settings
from sendflowr.errors import SendFlowrError
from sendflowr.kafka import LocalKafka, topic_offsets
from sendflowr.serve.daemon import ServeProcess
from sendflowr.settings import Settings
from sendflowr.store.access import read_access

__all__ = ["status"]


def _why_not(port: int) -> str:
    """``down``, or what an endpoint's ``/health`` says is wrong (e.g. the store)."""
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return "down"
    problems = [f"{k}: {v}" for k, v in body.items() if k in ("store", "kafka") and v != "ok"]
    return "unavailable (" + "; ".join(problems) + ")" if problems else "down"


def _schedules_line(settings: Settings) -> str:
    """Pending, fired and cancelled held schedules, as the inference role counts them."""
    key = settings.api_key.get_secret_value() if settings.api_key else None
    try:
        r = httpx.get(
            f"http://127.0.0.1:{settings.inference_port}/schedules",
            params={"limit": 1},
            headers={"X-API-Key": key} if key else {},
            timeout=2.0,
        )
        counts = r.json()["counts"] if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError):
        counts = None
    if counts is None:
        return "schedules: unknown (inference not running or not following the stream)"
    return "schedules: " + ", ".join(f"{counts[k]} {k}" for k in ("pending", "fired", "cancelled"))


@click.command()
def status() -> None:
    """Show Kafka, the background serve and its endpoints, offsets, lag and row counts.

    \b
    Example:
      sendflowr status
    """
    settings = load_settings()
    broker = LocalKafka(settings).status()
    serve = ServeProcess(settings).status()
    services = Table("service", "state", "where", title="Services")
    kafka_state = f"running (pid {broker.pid})" if broker.running else "not started by sendflowr"
    services.add_row("kafka", kafka_state, settings.kafka_bootstrap_servers)
    services.add_row(
        "serve", f"running (pid {serve.pid})" if serve.pid else "not running", str(settings.home)
    )
    ports = {
        "connector": settings.connector_port,
        "inference": settings.inference_port,
        "admin": settings.admin_port,
    }
    for name, ok in serve.health.items():
        state = "healthy" if ok else _why_not(ports[name])
        services.add_row(f"  {name}", state, f"127.0.0.1:{ports[name]}")
    console.print(services)

    offsets = Table("topic", "partition", "low", "high", "committed", "lag", title="Kafka")
    local = settings.kafka_bootstrap_servers == broker.bootstrap
    try:
        if local and not broker.running:
            raise SendFlowrError("the local broker is not running (sendflowr kafka start)")
        for topic in (settings.topic, settings.dlq_topic):
            for p in topic_offsets(
                settings.kafka_bootstrap_servers, topic, settings.consumer_group
            ):
                committed = "-" if p.committed is None else str(p.committed)
                lag = str(p.high - p.low) if p.lag is None else str(p.lag)
                offsets.add_row(topic, str(p.partition), str(p.low), str(p.high), committed, lag)
        console.print(offsets)
    except SendFlowrError as exc:
        console.print(f"Kafka: {exc}")

    console.print(_schedules_line(settings))  # held schedules (timing.schedules_api)

    try:
        with read_access(settings) as store:
            counts = store.query(
                "SELECT name, total_rows FROM system.tables "
                "WHERE database = {db:String} ORDER BY name",
                {"db": settings.clickhouse_database},
            )
    except SendFlowrError as exc:
        console.print(f"store: {exc}")
        return
    rows = Table("table", "rows", title=f"ClickHouse {settings.clickhouse_database}")
    for name, total in counts.rows:
        rows.add_row(str(name), str(total))
    console.print(rows)
