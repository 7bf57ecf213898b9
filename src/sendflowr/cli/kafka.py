"""``sendflowr kafka start|stop|status``: the project's local Apache Kafka broker."""

from __future__ import annotations

import time

import click

from sendflowr.cli.context import console, load_settings
from sendflowr.kafka import LocalKafka, topic_offsets

__all__ = ["kafka"]


@click.group()
def kafka() -> None:
    """Run a real local Apache Kafka broker (KRaft) on 127.0.0.1.

    \b
    Example:
      sendflowr kafka start    # downloads the jars with Maven on first use
      sendflowr kafka status
      sendflowr kafka stop
    """


@kafka.command()
def start() -> None:
    """Start the broker (if not running) and create the topics. Safe to repeat."""
    settings = load_settings()
    broker = LocalKafka(settings)
    began = time.monotonic()
    with console.status("starting Kafka (first run downloads it from Maven Central)…"):
        started = broker.start()
    verb = "started" if started else "already running"
    console.print(
        f"Kafka {verb} on {broker.bootstrap} (pid {broker.running_pid()}) "
        f"in {time.monotonic() - began:.1f}s; topics {settings.topic!r} "
        f"({settings.topic_partitions} partitions), {settings.dlq_topic!r}; log {broker.log_path}"
    )


@kafka.command()
def stop() -> None:
    """Stop the broker this project started (and nothing else)."""
    broker = LocalKafka(load_settings())
    if broker.stop():
        console.print("Kafka stopped")
    else:
        console.print("Kafka was not running (no broker started by this project)")


@kafka.command()
def status() -> None:
    """Show whether the broker runs, and the topics' offsets."""
    settings = load_settings()
    state = LocalKafka(settings).status()
    if not state.running:
        console.print(f"Kafka: not running (log {state.log_path})")
        raise SystemExit(1)
    console.print(f"Kafka: running, pid {state.pid}, {state.bootstrap}")
    for topic in (settings.topic, settings.dlq_topic):
        for p in topic_offsets(state.bootstrap, topic, settings.consumer_group):
            lag = "-" if p.lag is None else p.lag
            console.print(f"  {topic}[{p.partition}] offsets {p.low}..{p.high} lag {lag}")
