"""A real local Apache Kafka broker or cluster (KRaft), run by the project.

Jars come from Maven Central through Maven (``resources/kafka-pom.xml``) and
are cached in ``SENDFLOWR_HOME/kafka/libs-<version>``; the nodes run with the
machine's Java, in the background. The single broker (the default) keeps its log in
``SENDFLOWR_HOME/kafka/broker.log`` and its pid in ``SENDFLOWR_HOME/kafka/broker.pid``;
a cluster of N combined broker+controller nodes (a three-voter KRaft quorum for
N = 3) keeps each node's files in ``SENDFLOWR_HOME/kafka/cluster/node-<id>/``
(ports, folders and configs: ``kafka/layout.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sendflowr.errors import ConfigError, DependencyMissing, KafkaUnavailable, ServiceError
from sendflowr.kafka.layout import KafkaNode, cluster_nodes, replication, server_properties
from sendflowr.kafka.topics import ensure_topics, wait_ready
from sendflowr.process.pidfile import owned_pid, pid_alive, terminate
from sendflowr.settings import Settings

__all__ = ["BrokerStatus", "LocalKafka", "NodeStatus"]

_JAVA_HINT = (
    "Java 17 or newer is required to run Kafka: "
    "install it (apt-get install openjdk-17-jre-headless)"
)
# Popen handles of brokers started by this process, kept so they are reaped, not leaked.
_children: list[subprocess.Popen[bytes]] = []

_MAVEN_HINT = (
    "Maven is required to download Kafka from Maven Central: install it (apt-get install maven)"
)


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """One node of the local broker or cluster."""

    node_id: int
    running: bool
    pid: int | None
    address: str
    log_path: Path


@dataclass(frozen=True, slots=True)
class BrokerStatus:
    """What ``sendflowr kafka status`` reports: the whole broker or cluster, and each node."""

    running: bool
    pid: int | None
    bootstrap: str
    log_path: Path
    nodes: tuple[NodeStatus, ...] = ()


def _java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return 0
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _reap() -> None:
    for proc in list(_children):
        if proc.poll() is not None:
            _children.remove(proc)


class LocalKafka:
    """Manages the local KRaft broker, or cluster of ``brokers`` combined nodes, under
    ``settings.kafka_dir``. No I/O in the constructor.

    ``brokers=None`` means "what this home runs": the cluster while any of its nodes
    runs, else the single broker — so ``stop``, ``status`` and ``sendflowr up``/``down``
    act on a cluster started with ``sendflowr kafka start --brokers 3`` as well.
    """

    def __init__(self, settings: Settings, brokers: int | None = None) -> None:
        self._settings = settings
        self._brokers = brokers
        self.dir = settings.kafka_dir.resolve()
        self.libs = self.dir / f"libs-{settings.kafka_version}"
        self.cluster_dir = self.dir / "cluster"

    # --- shape -----------------------------------------------------------------
    def _recorded_size(self) -> int | None:
        try:
            return int((self.cluster_dir / "size").read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def brokers(self) -> int:
        """Number of nodes: as asked, else the running cluster's size, else 1."""
        if self._brokers is not None:
            return self._brokers
        size = self._recorded_size()
        if size and size > 1 and any(self._pid(n) for n in cluster_nodes(self._settings, size)):
            return size
        return 1

    @property
    def nodes(self) -> tuple[KafkaNode, ...]:
        """The nodes, in id order."""
        return cluster_nodes(self._settings, self.brokers)

    @property
    def log_path(self) -> Path:
        """Log file of the (first) node; the others are beside it in ``cluster/node-<id>``."""
        return self.nodes[0].log_path

    @property
    def bootstrap(self) -> str:
        """Bootstrap addresses of every node, comma-separated."""
        return ",".join(node.address for node in self.nodes)

    # --- set-up --------------------------------------------------------------
    def check_java(self) -> str:
        """Path of a Java 17+ executable; raise ``DependencyMissing`` otherwise."""
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java or not Path(java).exists() or _java_major(java) < 17:
            raise DependencyMissing(_JAVA_HINT)
        return java

    def ensure_jars(self) -> bool:
        """Resolve the broker's jars once; return True if this call downloaded them."""
        marker = self.libs / ".complete"
        if marker.exists():
            return False
        mvn = shutil.which("mvn")
        if not mvn:
            raise DependencyMissing(_MAVEN_HINT)
        self.dir.mkdir(parents=True, exist_ok=True)
        staging = self.dir / f".libs-{uuid.uuid4().hex[:8]}"
        pom = resources.files("sendflowr.resources").joinpath("kafka-pom.xml")
        with resources.as_file(pom) as pom_path:
            proc = subprocess.run(
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(pom_path),
                    "dependency:copy-dependencies",
                    f"-Dkafka.version={self._settings.kafka_version}",
                    f"-DoutputDirectory={staging}",
                    "-DincludeScope=runtime",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
        if proc.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
            shutil.rmtree(staging, ignore_errors=True)
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise ServiceError("Maven could not resolve Kafka: " + " | ".join(tail))
        (staging / ".complete").write_text(self._settings.kafka_version)
        if self.libs.exists():
            shutil.rmtree(self.libs)
        staging.rename(self.libs)
        return True

    def _classpath(self) -> str:
        return str(self.libs / "*")

    def _cluster_id(self, java: str, nodes: tuple[KafkaNode, ...]) -> str:
        """One id for every node of a cluster (kept in ``cluster/cluster.id``)."""
        id_path = self.cluster_dir / "cluster.id" if len(nodes) > 1 else None
        if id_path is not None and id_path.exists():
            return id_path.read_text().strip()
        cluster_id = subprocess.run(
            [java, "-cp", self._classpath(), "kafka.tools.StorageTool", "random-uuid"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if id_path is not None:
            id_path.write_text(cluster_id)
        return cluster_id

    def _format(self, java: str, node: KafkaNode, cluster_id: str) -> None:
        if (node.data / "meta.properties").exists():
            return
        proc = subprocess.run(
            [
                java,
                "-cp",
                self._classpath(),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(node.config_path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ServiceError("could not format KRaft storage: " + proc.stdout + proc.stderr)

    # --- lifecycle -------------------------------------------------------------
    def _pid(self, node: KafkaNode) -> int | None:
        return owned_pid(node.pid_path, b"kafka.Kafka", str(node.config_path).encode())

    def running_pid(self) -> int | None:
        """Pid of the first node this project started that is still alive."""
        return next((pid for pid in map(self._pid, self.nodes) if pid is not None), None)

    def node_pid(self, node_id: int) -> int | None:
        """Pid of node ``node_id`` if it runs."""
        return self._pid(self._node(node_id))

    def _node(self, node_id: int) -> KafkaNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise ConfigError(f"no node {node_id} in a {self.brokers}-node setup", option="node")

    def _check_layout(self, brokers: int) -> None:
        """Refuse to mix the single broker and a cluster, or to resize a formatted cluster."""
        if brokers > 1:
            if self._pid(cluster_nodes(self._settings, 1)[0]) is not None:
                raise ServiceError(
                    "the single-node broker of this SENDFLOWR_HOME runs on the same ports; "
                    "stop it first (sendflowr kafka stop)"
                )
            size = self._recorded_size()
            if size is not None and size != brokers:
                raise ServiceError(
                    f"the local cluster in {self.cluster_dir} was formatted with {size} nodes: "
                    f"start it with --brokers {size}, or stop it and remove that folder"
                )
        else:
            size = self._recorded_size()
            if size and size > 1 and any(self._pid(n) for n in cluster_nodes(self._settings, size)):
                raise ServiceError(
                    f"a {size}-node local cluster of this SENDFLOWR_HOME runs on the same ports; "
                    "stop it first (sendflowr kafka stop)"
                )

    def _launch(self, java: str, node: KafkaNode) -> subprocess.Popen[bytes]:
        for port in (node.port, node.controller_port):
            if _port_in_use(port):
                raise ServiceError(
                    f"port {port} on 127.0.0.1 is taken by a process this project did not "
                    "start; stop it or set SENDFLOWR_KAFKA_PORT or "
                    "SENDFLOWR_KAFKA_CONTROLLER_PORT"
                )
        log4j = resources.files("sendflowr.resources").joinpath("kafka-log4j2.yaml")
        log4j_path = self.dir / "log4j2.yaml"
        log4j_path.write_text(log4j.read_text())
        with open(node.log_path, "ab") as log:
            proc = subprocess.Popen(
                [
                    java,
                    f"-Xmx{self._settings.kafka_heap}",
                    "-XX:+UseG1GC",
                    "-XX:TieredStopAtLevel=1",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={log4j_path}",
                    "-cp",
                    self._classpath(),
                    "kafka.Kafka",
                    str(node.config_path),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        _children.append(proc)
        node.pid_path.write_text(str(proc.pid))
        return proc

    def _launch_all(
        self,
        java: str,
        nodes: tuple[KafkaNode, ...],
        launched: list[tuple[KafkaNode, subprocess.Popen[bytes]]],
    ) -> None:
        """Format (first start) and launch every node not running; ``launched`` grows as
        each one starts, so a failure part-way knows what to stop."""
        cluster_id: str | None = None
        for node in nodes:
            if self._pid(node) is not None:
                continue
            node.dir.mkdir(parents=True, exist_ok=True)
            node.config_path.write_text(server_properties(self._settings, node, nodes))
            if not (node.data / "meta.properties").exists():
                cluster_id = cluster_id or self._cluster_id(java, nodes)
                self._format(java, node, cluster_id)
            launched.append((node, self._launch(java, node)))

    def _wait_started(
        self,
        nodes: tuple[KafkaNode, ...],
        launched: list[tuple[KafkaNode, subprocess.Popen[bytes]]],
        brokers: int,
        timeout: float,
    ) -> None:
        """Until every node answers; ServiceError when a launched node exits."""
        bootstrap = ",".join(node.address for node in nodes)
        deadline = time.monotonic() + timeout
        while True:
            for node, proc in launched:
                if proc.poll() is not None:
                    raise ServiceError(
                        f"Kafka node {node.node_id} exited with {proc.returncode}; "
                        f"see {node.log_path}"
                    )
            try:
                wait_ready(bootstrap, timeout=2.0, brokers=brokers)
                return
            except KafkaUnavailable:
                if time.monotonic() > deadline:
                    raise

    def start(self, timeout: float = 90.0) -> bool:
        """Start every node that is not running and create the topics; True if any started.

        Topics get ``replication(brokers)``: on three nodes, replication factor 3 and
        ``min.insync.replicas`` 2 (``__consumer_offsets`` too, by the broker config).
        """
        java = self.check_java()
        self.ensure_jars()
        brokers = self.brokers
        self._check_layout(brokers)
        nodes = cluster_nodes(self._settings, brokers)
        if brokers > 1:
            self.cluster_dir.mkdir(parents=True, exist_ok=True)
            (self.cluster_dir / "size").write_text(str(brokers))
        launched: list[tuple[KafkaNode, subprocess.Popen[bytes]]] = []
        try:
            self._launch_all(java, nodes, launched)
            self._wait_started(nodes, launched, brokers, timeout)
        except BaseException:
            if launched:  # the nodes that did start must not outlive a failed start
                self.stop()
            raise
        bootstrap = ",".join(node.address for node in nodes)
        s = self._settings
        factor, min_isr = replication(brokers)
        ensure_topics(
            bootstrap,
            [(s.topic, s.topic_partitions), (s.dlq_topic, 1)],
            replication_factor=factor,
            min_insync_replicas=min_isr,
        )
        return bool(launched)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the nodes this project started (and only those); True if one was stopped."""
        stopped = False
        for node in self.nodes:
            pid = self._pid(node)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
                stopped = True
        for node in self.nodes:
            pid = self._pid(node)
            if pid is not None:
                terminate(pid, timeout)
            node.pid_path.unlink(missing_ok=True)
        _reap()
        return stopped

    def kill(self, node_id: int | None = None) -> None:
        """SIGKILL node ``node_id``, or every node (for failure tests); ``start()`` restarts."""
        targets = self.nodes if node_id is None else (self._node(node_id),)
        for node in targets:
            pid = self._pid(node)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                while pid_alive(pid):
                    time.sleep(0.05)
        _reap()

    def status(self) -> BrokerStatus:
        """Whether the broker (any node) runs, and each node's pid, address and log file."""
        nodes = tuple(
            NodeStatus(n.node_id, (pid := self._pid(n)) is not None, pid, n.address, n.log_path)
            for n in self.nodes
        )
        first = next((n for n in nodes if n.running), None)
        return BrokerStatus(
            first is not None,
            first.pid if first else None,
            self.bootstrap,
            (first or nodes[0]).log_path,
            nodes,
        )
