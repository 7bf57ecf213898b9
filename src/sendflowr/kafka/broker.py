"""A real local Apache Kafka broker (KRaft, one combined node), run by the project.

Jars come from Maven Central through Maven (``resources/kafka-pom.xml``) and
are cached in ``SENDFLOWR_HOME/kafka/libs-<version>``; the broker runs with the
machine's Java, in the background, its log in ``SENDFLOWR_HOME/kafka/broker.log``
and its pid in ``SENDFLOWR_HOME/kafka/broker.pid``.
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

from sendflowr.errors import DependencyMissing, KafkaUnavailable, ServiceError
from sendflowr.kafka.topics import ensure_topics, wait_ready
from sendflowr.process.pidfile import owned_pid, pid_alive, terminate
from sendflowr.settings import Settings

__all__ = ["BrokerStatus", "LocalKafka"]

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
class BrokerStatus:
    """What ``sendflowr kafka status`` reports."""

    running: bool
    pid: int | None
    bootstrap: str
    log_path: Path


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
    """Manages one local KRaft broker under ``settings.kafka_dir``. No I/O in the constructor."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.dir = settings.kafka_dir.resolve()
        self.libs = self.dir / f"libs-{settings.kafka_version}"
        self.data = self.dir / "data"
        self.config_path = self.dir / "server.properties"
        self.log_path = self.dir / "broker.log"
        self.pid_path = self.dir / "broker.pid"

    @property
    def bootstrap(self) -> str:
        """Bootstrap address of the local broker."""
        return f"127.0.0.1:{self._settings.kafka_port}"

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

    def _write_config(self) -> None:
        s = self._settings
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{s.kafka_controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{s.kafka_port},"
            f"CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{s.kafka_port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={self.data}",
            f"num.partitions={s.topic_partitions}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "message.max.bytes=16777216",
            "log.retention.hours=168",
        ]
        self.config_path.write_text("\n".join(lines) + "\n")

    def _classpath(self) -> str:
        return str(self.libs / "*")

    def _format(self, java: str) -> None:
        if (self.data / "meta.properties").exists():
            return
        cluster_id = subprocess.run(
            [java, "-cp", self._classpath(), "kafka.tools.StorageTool", "random-uuid"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
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
                str(self.config_path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ServiceError("could not format KRaft storage: " + proc.stdout + proc.stderr)

    # --- lifecycle -------------------------------------------------------------
    def running_pid(self) -> int | None:
        """Pid of the broker this project started, if it is still alive."""
        return owned_pid(self.pid_path, b"kafka.Kafka", str(self.config_path).encode())

    def start(self, timeout: float = 90.0) -> bool:
        """Start the broker if it is not running and create the topics; True if started now."""
        java = self.check_java()
        self.ensure_jars()
        started = False
        if self.running_pid() is None:
            for port in (self._settings.kafka_port, self._settings.kafka_controller_port):
                if _port_in_use(port):
                    raise ServiceError(
                        f"port {port} on 127.0.0.1 is taken by a process this project did not "
                        "start; stop it or set SENDFLOWR_KAFKA_PORT or "
                        "SENDFLOWR_KAFKA_CONTROLLER_PORT"
                    )
            self.dir.mkdir(parents=True, exist_ok=True)
            self._write_config()
            self._format(java)
            log4j = resources.files("sendflowr.resources").joinpath("kafka-log4j2.yaml")
            log4j_path = self.dir / "log4j2.yaml"
            log4j_path.write_text(log4j.read_text())
            with open(self.log_path, "ab") as log:
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
                        str(self.config_path),
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            _children.append(proc)
            self.pid_path.write_text(str(proc.pid))
            started = True
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise ServiceError(f"Kafka exited with {proc.returncode}; see {self.log_path}")
                try:
                    wait_ready(self.bootstrap, timeout=2.0)
                    break
                except KafkaUnavailable:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise
        else:
            wait_ready(self.bootstrap, timeout=timeout)
        s = self._settings
        ensure_topics(self.bootstrap, [(s.topic, s.topic_partitions), (s.dlq_topic, 1)])
        return started

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker this project started (and only that one); True if one was stopped."""
        pid = self.running_pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        terminate(pid, timeout)
        self.pid_path.unlink(missing_ok=True)
        _reap()
        return True

    def kill(self) -> None:
        """SIGKILL the broker (for failure tests)."""
        pid = self.running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.05)
        _reap()

    def status(self) -> BrokerStatus:
        """Whether the broker runs, its pid, address and log file."""
        pid = self.running_pid()
        return BrokerStatus(pid is not None, pid, self.bootstrap, self.log_path)
