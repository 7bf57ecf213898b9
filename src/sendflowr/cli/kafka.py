"""``sendflowr kafka start|stop|status|groups``: the project's local Apache Kafka broker,
and its consumer groups as ``kafka-consumer-groups --describe`` shows them."""

from __future__ import annotations

import time
from collections.abc import Sequence

import click

from sendflowr.cli.context import console, load_settings
from sendflowr.kafka import LocalKafka, partition_replicas, topic_offsets
from sendflowr.kafka.topics import GroupPartition, describe_groups

__all__ = ["GROUP_COLUMNS", "group_table", "kafka"]

#: The columns of ``kafka-consumer-groups --describe``, in its order.
GROUP_COLUMNS = (
    "GROUP",
    "TOPIC",
    "PARTITION",
    "CURRENT-OFFSET",
    "LOG-END-OFFSET",
    "LAG",
    "CONSUMER-ID",
    "HOST",
    "CLIENT-ID",
)


@click.group()
def kafka() -> None:
    """Run a real local Apache Kafka broker (KRaft) on 127.0.0.1, or a cluster of them.

    \b
    Example:
      sendflowr kafka start    # downloads the jars with Maven on first use
      sendflowr kafka start --brokers 3   # three nodes, replication factor 3
      sendflowr kafka status
      sendflowr kafka groups --group sendflowr-consumer
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


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def group_table(rows: Sequence[GroupPartition]) -> str:
    """``rows`` laid out as ``kafka-consumer-groups --describe`` prints them: per group a
    blank line, the column header and one left-aligned line per partition (``-`` for none)."""
    lines: list[str] = []
    for group in dict.fromkeys(r.group for r in rows):
        mine = [r for r in rows if r.group == group]
        cells = [
            [
                r.group,
                r.topic,
                r.partition,
                r.current_offset,
                r.log_end_offset,
                r.lag,
                r.consumer_id,
                r.host,
                r.client_id,
            ]  # fmt: skip
            for r in mine
        ]
        table = [list(GROUP_COLUMNS)] + [[_cell(v) for v in row] for row in cells]
        widths = [max(len(row[i]) for row in table) for i in range(len(GROUP_COLUMNS))]
        lines.append("")
        if all(r.consumer_id is None for r in mine):
            lines.append(f"Consumer group '{group}' has no active members.")
            lines.append("")
        for row in table:
            lines.append(" ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


@kafka.command()
@click.option("--group", "groups", multiple=True, help="Only this group (repeatable).")
def groups(groups: tuple[str, ...]) -> None:
    """Describe consumer groups as `kafka-consumer-groups --describe` does: per partition the
    committed offset, log-end offset, lag and the member holding it. Default: every group.

    \b
    Example:
      sendflowr kafka groups --group sendflowr-consumer
    """
    settings = load_settings()
    rows = describe_groups(settings.kafka_bootstrap_servers, list(groups) or None)
    if not rows:
        click.echo("No consumer group has committed offsets or members.")
        return
    click.echo(group_table(rows))
