"""``sendflowr kafka start|stop|status``: the project's local Apache Kafka broker."""

from __future__ import annotations

import time

import click

from sendflowr.cli.context import console, load_settings
from sendflowr.kafka import LocalKafka, partition_replicas, topic_offsets

__all__ = ["kafka"]


@click.group()
def kafka() -> None:
    """Run a real local Apache Kafka broker (KRaft) on 127.0.0.1, or a cluster of them.

    \b
    Example:
      sendflowr kafka start    # downloads the jars with Maven on first use
      sendflowr kafka start --brokers 3   # three nodes, replication factor 3
      sendflowr kafka status
      sendflowr kafka stop
    """


@kafka.command()
@click.option(
    "--brokers",
    type=click.IntRange(min=1),
    help=(
        "Nodes (combined broker + controller). 1 = the single broker; 3 = a local cluster "
        "with replication factor 3 and min.insync.replicas 2, node i on "
        "SENDFLOWR_KAFKA_PORT + 2(i-1) and SENDFLOWR_KAFKA_CONTROLLER_PORT + 2(i-1). "
        "Default: what runs, else 1."
    ),
)
def start(brokers: int | None) -> None:
    """Start the broker or cluster (nodes not running) and create the topics. Safe to repeat.

    \b
    Example:
      sendflowr kafka start --brokers 3
      export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096
    """
    settings = load_settings()
    broker = LocalKafka(settings, brokers)
    began = time.monotonic()
    with console.status("starting Kafka (first run downloads it from Maven Central)…"):
        started = broker.start()
    verb = "started" if started else "already running"
    nodes = broker.status().nodes
    pids = ", ".join(str(n.pid) for n in nodes)
    console.print(
        f"Kafka {verb} on {broker.bootstrap} ({len(nodes)} node{'s' * (len(nodes) > 1)}, "
        f"pid {pids}) in {time.monotonic() - began:.1f}s; topics {settings.topic!r} "
        f"({settings.topic_partitions} partitions), {settings.dlq_topic!r}; "
        f"log {broker.log_path}"
    )
    if len(nodes) > 1 and settings.kafka_bootstrap_servers != broker.bootstrap:
        console.print(f"clients: export KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap}")


@kafka.command()
def stop() -> None:
    """Stop the broker or every cluster node this project started (and nothing else).

    \b
    Example:
      sendflowr kafka stop
    """
    broker = LocalKafka(load_settings())
    if broker.stop():
        console.print("Kafka stopped")
    else:
        console.print("Kafka was not running (no broker started by this project)")


@kafka.command()
def status() -> None:
    """Show whether the broker (each node) runs, and the topics' offsets and replicas.

    \b
    Example:
      sendflowr kafka status
    """
    settings = load_settings()
    state = LocalKafka(settings).status()
    if not state.running:
        console.print(f"Kafka: not running (log {state.log_path})")
        raise SystemExit(1)
    console.print(f"Kafka: running, pid {state.pid}, {state.bootstrap}")
    if len(state.nodes) > 1:
        for node in state.nodes:
            where = f"running, pid {node.pid}" if node.running else "NOT running"
            console.print(f"  node {node.node_id}: {where}, {node.address}, log {node.log_path}")
    for topic in (settings.topic, settings.dlq_topic):
        replicas = {r.partition: r for r in partition_replicas(state.bootstrap, topic)}
        for p in topic_offsets(state.bootstrap, topic, settings.consumer_group):
            lag = "-" if p.lag is None else p.lag
            line = f"  {topic}[{p.partition}] offsets {p.low}..{p.high} lag {lag}"
            r = replicas.get(p.partition)
            if r is not None and len(state.nodes) > 1:
                line += f" leader {r.leader} replicas {list(r.replicas)} isr {list(r.isrs)}"
            console.print(line)
