"""Shared fixtures: settings for a temp home, a real Kafka broker and chDB for the session.

The broker is the project's own ``LocalKafka`` on free ports in a temporary
home, started once per test session and stopped at its end. Set
``SENDFLOWR_TEST_BOOTSTRAP`` to use an already running broker instead.
chDB allows one engine per process, so the session shares one data folder
and each test gets its own database.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sendflowr.kafka import LocalKafka, ensure_topics
from sendflowr.settings import Settings
from sendflowr.store import ClickHouseStore
from tests.privacy import Findings, LeakHandler, scan_database

#: Bootstrap of the session's broker once started (the closing privacy scan reads it).
SESSION_BROKER: list[str] = []


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_name(prefix: str) -> str:
    """A name for a topic, database or group that no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The SENDFLOWR_HOME of this test session (chDB data, identity files, broker)."""
    return tmp_path_factory.mktemp("sendflowr-home")


@pytest.fixture(scope="session")
def kafka_bootstrap(session_home: Path) -> Iterator[str]:
    """Bootstrap address of a real Kafka broker, started for the session."""
    external = os.environ.get("SENDFLOWR_TEST_BOOTSTRAP")
    if external:
        yield external
        return
    settings = Settings(
        home=session_home,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        topic_partitions=3,
    )
    broker = LocalKafka(settings)
    broker.start()
    SESSION_BROKER.append(broker.bootstrap)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def make_settings(session_home: Path) -> Any:
    """Build Settings on the session home, with overrides."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"home": session_home}
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def topic(kafka_bootstrap: str) -> str:
    """A fresh 3-partition topic on the session broker (plus its ``-dlq``)."""
    name = unique_name("events")
    ensure_topics(kafka_bootstrap, [(name, 3), (f"{name}-dlq", 1)])
    return name


@pytest.fixture
def kafka_settings(make_settings: Any, kafka_bootstrap: str, topic: str) -> Settings:
    """Settings pointing at the session broker, a fresh topic, DLQ, group and database."""
    settings: Settings = make_settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        topic=topic,
        dlq_topic=f"{topic}-dlq",
        consumer_group=unique_name("group"),
        clickhouse_database=unique_name("db"),
    )
    return settings


@pytest.fixture(scope="session", autouse=True)
def privacy_findings() -> Iterator[Findings]:
    """Raw addresses seen anywhere during the session (asserted empty by its last test)."""
    findings = Findings()
    handler = LeakHandler(findings)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield findings
    finally:
        root.removeHandler(handler)


def drop_database(store: Any, findings: Findings) -> None:
    """Scan ``store``'s database for raw addresses, then drop it."""
    scan_database(store, findings)
    store.command(f"DROP DATABASE IF EXISTS `{store.database}`")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The privacy scan runs last, whatever else was selected."""
    items.sort(key=lambda item: "tests/zz_privacy/" in str(item.fspath))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Reap every child process the session started and nobody waited for, and name the
    ones still running (without this, Python's exit only said "subprocess N is still
    running", with no hint of which)."""
    import gc
    import subprocess

    running = []
    for obj in gc.get_objects():
        if isinstance(obj, subprocess.Popen) and obj.returncode is None and obj.poll() is None:
            running.append(obj)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not running:
        return
    reporter.ensure_newline()
    for proc in running:
        line = f"a child process outlived the tests: pid {proc.pid}, {proc.args!r}"[:400]
        reporter.write_line(line, yellow=True)


@pytest.fixture
def store(make_settings: Any, privacy_findings: Findings) -> Iterator[ClickHouseStore]:
    """A started store on the session's chDB folder, with a database of its own."""
    settings = make_settings(clickhouse_database=unique_name("db"))
    st = ClickHouseStore(settings)
    st.start()
    try:
        yield st
    finally:
        drop_database(st, privacy_findings)
        st.stop()
