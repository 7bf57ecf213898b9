"""The seed's verification habits: ``sql "… FORMAT Vertical"`` prints ClickHouse's output
(locally and through serve's admin API), and ``kafka groups`` prints what
``kafka-consumer-groups --describe`` prints, from the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from confluent_kafka import Consumer, Producer

from sendflowr.cli.kafka import GROUP_COLUMNS
from sendflowr.errors import ValidationError
from sendflowr.kafka import ensure_topics
from sendflowr.kafka.topics import describe_groups
from sendflowr.serve.admin import create_admin_app
from sendflowr.serve.contract import Resources
from sendflowr.store.remote import RemoteQuery
from tests.conftest import free_port, unique_name

ADMIN_TOKEN = "test-admin-token-" + "0" * 16

VERTICAL = "Row 1:\n──────\none: 1\ns:   x\n"


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sendflowr", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)  # fmt: skip


def test_sql_honours_a_format_clause(tmp_path: Path) -> None:
    env = dict(os.environ, SENDFLOWR_HOME=str(tmp_path), SENDFLOWR_ADMIN_PORT=str(free_port()))
    env.pop("CLICKHOUSE_URL", None)
    vertical = _run(["sql", "SELECT 1 AS one, 'x' AS s FORMAT Vertical"], env)
    assert vertical.returncode == 0, vertical.stderr
    assert vertical.stdout == VERTICAL
    lower = _run(["sql", "select 2 as two format CSVWithNames;"], env)
    assert lower.stdout == '"two"\n2\n'
    both = _run(["sql", "--format", "csv", "SELECT 1 FORMAT Vertical"], env)
    assert both.returncode != 0 and "--format" in both.stderr + both.stdout
    # A column merely named like the keyword is not a FORMAT clause.
    plain = _run(["sql", "--format", "csv", "SELECT 'FORMAT' AS format"], env)
    assert plain.stdout.splitlines() == ["format", "FORMAT"]


@pytest.fixture
def admin(make_settings: Any) -> Iterator[tuple[str, Resources]]:
    resources = Resources(make_settings(clickhouse_database=unique_name("db")))
    port = free_port()
    config = uvicorn.Config(create_admin_app(resources, ADMIN_TOKEN), host="127.0.0.1", port=port,
                            log_level="warning")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not RemoteQuery(url, ADMIN_TOKEN).available():
        assert time.monotonic() < deadline, "admin API did not start"
        time.sleep(0.1)
    try:
        yield url, resources
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        resources.close()


def test_format_clause_through_serves_admin_api(admin: tuple[str, Resources]) -> None:
    url, resources = admin
    remote = RemoteQuery(url, ADMIN_TOKEN)
    assert remote.query_text("SELECT 1 AS one, 'x' AS s FORMAT Vertical") == VERTICAL
    # The confined admin SQL refuses anything but a read before running it.
    with pytest.raises(ValidationError, match="only SELECT"):
        remote.query_text("SELEC 1 FORMAT Vertical")
    with pytest.raises(ValidationError, match="only SELECT"):
        remote.query_text("CREATE TABLE default.nope (x UInt8) ENGINE = Memory FORMAT CSV")
    with pytest.raises(ValidationError, match="not an allowed output format"):
        remote.query_text("SELECT 1 FORMAT Native")
    # Read-only was the query's own: the very client serve shares still takes writes.
    store = resources.store()
    table = f"{store.database}.w"
    store.command(f"CREATE TABLE {table} (x UInt8) ENGINE = Memory")
    store.command(f"INSERT INTO {table} VALUES (1)")  # noqa: S608
    assert store.query(f"SELECT count() FROM {table}").scalar() == 1  # noqa: S608
    store.command(f"DROP DATABASE IF EXISTS {store.database}")


def test_kafka_groups_describes_committed_offsets_lag_and_members(kafka_bootstrap: str) -> None:
    topic, group = unique_name("groups"), unique_name("group")
    ensure_topics(kafka_bootstrap, [(topic, 2)])
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(10):
        producer.produce(topic, value=b"x", partition=0 if i < 7 else 1)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group,
                         "client.id": "seed-habits", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})  # fmt: skip
    try:
        consumer.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 60
        while got < 4 and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error() and msg.partition() == 0:
                got += 1
                if got == 4:
                    consumer.commit(message=msg, asynchronous=False)  # offset 4 on partition 0
        rows = describe_groups(kafka_bootstrap, [group])
        by_partition = {r.partition: r for r in rows}
        assert got == 4, rows
        p0 = by_partition[0]
        assert (p0.current_offset, p0.log_end_offset, p0.lag) == (4, 7, 3)
        assert p0.client_id == "seed-habits" and p0.consumer_id and p0.host
        env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap)
        out = _run(["kafka", "groups", "--group", group], env)
        assert out.returncode == 0, out.stderr
        lines = [line for line in out.stdout.splitlines() if line]
        assert lines[0].split() == list(GROUP_COLUMNS)
        first = lines[1].split()
        assert first[:6] == [group, topic, "0", "4", "7", "3"] and first[-1] == "seed-habits"
    finally:
        consumer.close()
    # No member left: the tool's note, and "-" where nobody holds a partition.
    after = _run(["kafka", "groups", "--group", group],
                 dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap))  # fmt: skip
    assert f"Consumer group '{group}' has no active members." in after.stdout
    row = next(line for line in after.stdout.splitlines() if line.startswith(group))
    assert row.split()[3:] == ["4", "7", "3", "-", "-", "-"]
