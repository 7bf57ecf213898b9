"""Where the nodes of the local Kafka broker or cluster live: ids, ports, folders, configs.

Pure functions of the settings (no I/O), used by ``LocalKafka`` to start them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sendflowr.errors import ConfigError
from sendflowr.settings import Settings

__all__ = ["KafkaNode", "cluster_nodes", "replication", "server_properties"]


@dataclass(frozen=True, slots=True)
class KafkaNode:
    """One combined KRaft node (broker + controller): its id, ports and files."""

    node_id: int
    port: int
    controller_port: int
    dir: Path

    @property
    def address(self) -> str:
        """``host:port`` clients connect to."""
        return f"127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        """Log (data) folder."""
        return self.dir / "data"

    @property
    def config_path(self) -> Path:
        """``server.properties`` of this node."""
        return self.dir / "server.properties"

    @property
    def log_path(self) -> Path:
        """Where the node's output goes."""
        return self.dir / "broker.log"

    @property
    def pid_path(self) -> Path:
        """Pid file of the node's JVM."""
        return self.dir / "broker.pid"


def cluster_nodes(settings: Settings, brokers: int) -> tuple[KafkaNode, ...]:
    """The nodes of a local broker (``brokers`` = 1) or cluster, with ports and folders.

    One node keeps the historical layout: ``SENDFLOWR_HOME/kafka/{data,server.properties,
    broker.log,broker.pid}`` on ``SENDFLOWR_KAFKA_PORT`` / ``SENDFLOWR_KAFKA_CONTROLLER_PORT``.
    A cluster's node ``i`` (1-based) lives in ``SENDFLOWR_HOME/kafka/cluster/node-i`` and
    listens on ``SENDFLOWR_KAFKA_PORT + 2(i-1)`` (clients) and
    ``SENDFLOWR_KAFKA_CONTROLLER_PORT + 2(i-1)`` (controller): 9092/9093, 9094/9095,
    9096/9097 by default. Raises ``ConfigError`` if two of those ports coincide.
    """
    if brokers < 1:
        raise ConfigError("must be at least 1", option="--brokers")
    if brokers == 1:
        return (
            KafkaNode(
                1, settings.kafka_port, settings.kafka_controller_port, settings.kafka_dir.resolve()
            ),
        )
    root = (settings.kafka_dir / "cluster").resolve()
    nodes = tuple(
        KafkaNode(
            i + 1,
            settings.kafka_port + 2 * i,
            settings.kafka_controller_port + 2 * i,
            root / f"node-{i + 1}",
        )
        for i in range(brokers)
    )
    ports = [p for n in nodes for p in (n.port, n.controller_port)]
    if len(set(ports)) != len(ports) or max(ports) > 65535:
        raise ConfigError(
            f"{brokers} nodes need ports KAFKA_PORT + 0, 2, 4… and KAFKA_CONTROLLER_PORT + 0, 2, "
            f"4… that do not overlap (got {sorted(ports)}); e.g. set the controller port to "
            "the client port + 1",
            option="SENDFLOWR_KAFKA_CONTROLLER_PORT",
        )
    return nodes


def replication(brokers: int) -> tuple[int, int]:
    """``(replication factor, min.insync.replicas)`` of the topics on ``brokers`` nodes.

    Three copies where there are three nodes, and two of them must confirm a write
    (acks=all), so one node can die without losing an acknowledged record or
    refusing writes; one node has one copy.
    """
    factor = min(brokers, 3)
    return factor, max(factor - 1, 1)


def server_properties(settings: Settings, node: KafkaNode, nodes: tuple[KafkaNode, ...]) -> str:
    """The ``server.properties`` of ``node`` in a local setup of ``nodes``."""
    factor, min_isr = replication(len(nodes))
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    lines = [
        "process.roles=broker,controller",
        f"node.id={node.node_id}",
        f"controller.quorum.voters={voters}",
        f"listeners=PLAINTEXT://127.0.0.1:{node.port},"
        f"CONTROLLER://127.0.0.1:{node.controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{node.port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={node.data}",
        f"num.partitions={settings.topic_partitions}",
        f"default.replication.factor={factor}",
        f"min.insync.replicas={min_isr}",
        f"offsets.topic.replication.factor={factor}",
        "offsets.topic.num.partitions=3",
        f"transaction.state.log.replication.factor={factor}",
        f"transaction.state.log.min.isr={min_isr}",
        f"share.coordinator.state.topic.replication.factor={factor}",
        f"share.coordinator.state.topic.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "unclean.leader.election.enable=false",
        "message.max.bytes=16777216",
        "log.retention.hours=168",
    ]
    if len(nodes) > 1:
        # A dead node is fenced (and its partitions get new leaders) after 4 s, not 9 s.
        lines += ["broker.session.timeout.ms=4000", "broker.heartbeat.interval.ms=1000"]
    return "\n".join(lines) + "\n"
