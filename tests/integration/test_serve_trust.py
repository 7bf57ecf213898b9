# ruff: noqa: S608 - these tests send hostile SQL on purpose
"""``sendflowr serve`` (every role, embedded chDB) as an attacker and a careless operator
would meet it, on the real broker:

- a refused admin INSERT (``sendflowr sql "INSERT …"``) leaves ingestion working;
- ``file()``, ``url()`` (against our own inference port), ``INTO OUTFILE`` and
  ``INSERT INTO FUNCTION`` are refused with nothing written, and nothing hangs;
- the admin API without or with a wrong token is a 401; with ``SENDFLOWR_API_KEY`` set,
  every data endpoint of the connector and inference (walked from their OpenAPI) is a 401
  without it;
- the ClickHouse folder deleted under the running serve: the connector stops
  acknowledging (503 + Retry-After), both ``/health`` say why, an error is
  logged, and after a restart every acknowledged event is stored again (the sink replays
  the topic into the new table).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from sendflowr.auth import token_path
from sendflowr.settings import Settings
from tests.conftest import free_port
from tests.integration.sink_support import wait_for


@dataclass
class _Serve:
    env: dict[str, str]
    home: Path
    connector: str
    inference: str
    admin: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.home / "serve-test.log"

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sendflowr", "serve"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 120
        for url in (self.connector, self.inference, self.admin):
            while True:
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, self.log.read_text()[-3000:]
                time.sleep(0.3)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def sql(self, query: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sendflowr", "sql", "--format", "csv", query],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def count(self, database: str) -> int:
        done = self.sql(f"SELECT count() FROM `{database}`.email_events")
        assert done.returncode == 0, done.stderr
        return int(done.stdout.strip().splitlines()[1])


def _serve(settings: Settings, tmp_path: Path, **extra: str) -> _Serve:
    ports = [free_port() for _ in range(3)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDFLOWR_")}
    env.pop("CLICKHOUSE_URL", None)
    home = tmp_path / "home"
    env.update(
        SENDFLOWR_HOME=str(home),
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
        SENDFLOWR_TOPIC=settings.topic,
        SENDFLOWR_DLQ_TOPIC=settings.dlq_topic,
        SENDFLOWR_CONSUMER_GROUP=settings.consumer_group,
        SENDFLOWR_CLICKHOUSE_DATABASE=settings.clickhouse_database,
        SENDFLOWR_CONNECTOR_PORT=str(ports[0]),
        SENDFLOWR_INFERENCE_PORT=str(ports[1]),
        SENDFLOWR_ADMIN_PORT=str(ports[2]),
        SENDFLOWR_SINK_MAX_WAIT_MS="100",
        **extra,
    )
    home.mkdir()
    return _Serve(env, home, *(f"http://127.0.0.1:{p}" for p in ports))


@pytest.fixture
def serve(kafka_settings: Settings, tmp_path: Path) -> Iterator[_Serve]:
    running = _serve(kafka_settings, tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _events(n: int, tag: str) -> list[dict[str, object]]:
    return [
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "opened",
            "timestamp": "2025-10-01T07:15:00Z",
            "recipient_email": f"{tag}-{i}@example.com",
            "campaign_id": tag,
        }
        for i in range(n)
    ]


def test_refused_admin_queries_change_nothing_and_ingest_keeps_working(
    serve: _Serve, kafka_settings: Settings, tmp_path: Path
) -> None:
    db = kafka_settings.clickhouse_database
    first = httpx.post(f"{serve.connector}/api/events", json=_events(50, "a"), timeout=30)
    assert first.status_code == 200 and first.json()["accepted"] == 50
    wait_for(lambda: serve.count(db) == 50, 60, "the first events to be stored")

    target = tmp_path / "outfile.csv"
    port = serve.inference.rsplit(":", 1)[1]
    for query in [
        f"INSERT INTO `{db}`.email_events (event_type) VALUES ('sent')",
        f"SELECT * FROM file('{token_path(serve.home)}', 'LineAsString')",
        f"SELECT * FROM url('http://127.0.0.1:{port}/health', 'LineAsString')",
        f"SELECT 1 INTO OUTFILE '{target}'",
        f"INSERT INTO FUNCTION file('{target}', 'CSV', 'x UInt8') SELECT 1",
    ]:
        started = time.monotonic()
        done = serve.sql(query)
        assert done.returncode != 0, (query, done.stdout)
        assert "query" in done.stderr, done.stderr
        assert time.monotonic() - started < 30
        assert not target.exists()
    assert httpx.get(f"{serve.inference}/health", timeout=5).status_code == 200

    second = httpx.post(f"{serve.connector}/api/events", json=_events(30, "b"), timeout=30)
    assert second.status_code == 200 and second.json()["accepted"] == 30
    wait_for(lambda: serve.count(db) == 80, 60, "ingestion after the refused INSERT")

    token = token_path(serve.home)
    assert token.stat().st_mode & 0o777 == 0o600
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        got = httpx.post(f"{serve.admin}/sql", json={"query": "SELECT 1"}, headers=headers)
        assert got.status_code == 401
    right = {"Authorization": f"Bearer {token.read_text().strip()}"}
    assert httpx.post(f"{serve.admin}/sql", json={"query": "SELECT 1"}, headers=right).json()[
        "rows"
    ] == [[1]]


def test_a_deleted_store_folder_stops_acknowledgements_and_a_restart_replays(
    serve: _Serve, kafka_settings: Settings
) -> None:
    db = kafka_settings.clickhouse_database
    assert httpx.post(f"{serve.connector}/api/events", json=_events(40, "c"), timeout=30).is_success
    wait_for(lambda: serve.count(db) == 40, 60, "the first events to be stored")

    shutil.rmtree(serve.home / "clickhouse")
    acknowledged: list[str] = []
    refused = None
    deadline = time.monotonic() + 30
    while refused is None and time.monotonic() < deadline:
        batch = _events(20, "d")
        got = httpx.post(f"{serve.connector}/api/events", json=batch, timeout=30)
        if got.status_code == 200:
            acknowledged.extend(str(e["event_id"]) for e in batch)
            time.sleep(0.2)
        else:
            refused = got
    assert refused is not None, "the connector kept acknowledging"
    assert refused.status_code == 503 and refused.headers["retry-after"]
    assert "folder" in refused.json()["reason"]
    for url in (serve.connector, serve.inference):
        health = httpx.get(f"{url}/health", timeout=10)
        assert health.status_code == 503, health.text
        assert "folder" in health.json()["store"]
    assert "store cannot accept rows" in serve.log.read_text()

    serve.stop()
    serve.start()  # a fresh folder and a new table: the sink replays the topic into it
    ids = ",".join(f"'{i}'" for i in acknowledged) or "''"
    query = f"SELECT count(), countIf(toString(event_id) IN ({ids})) FROM `{db}`.email_events"

    def stored() -> tuple[int, int]:
        done = serve.sql(query)
        if done.returncode != 0:
            return (-1, -1)
        total, after = done.stdout.strip().splitlines()[1].split(",")
        return int(total), int(after)

    # Every event acknowledged, before the deletion and after it, is stored again.
    expected = (40 + len(acknowledged), len(acknowledged))
    wait_for(lambda: stored() == expected, 90, "the acknowledged events to be replayed")


def test_with_an_api_key_every_data_endpoint_of_both_apps_needs_it(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    running = _serve(kafka_settings, tmp_path, SENDFLOWR_API_KEY="k-123")
    running.start()
    try:
        walked = 0
        for base in (running.connector, running.inference):
            spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
            for path, item in spec["paths"].items():
                url = base + re.sub(r"\{[^}]+\}", "x", path)
                for method in item:
                    if path in ("/health", "/metrics", "/", "/scalar", "/scalar/v1"):
                        # health, metrics and the service pages hold no recipient data
                        assert httpx.request(method, url, timeout=10).status_code == 200
                        continue
                    for headers in ({}, {"X-API-Key": "wrong"}):
                        got = httpx.request(method, url, headers=headers, json={}, timeout=10)
                        assert got.status_code == 401, (method, path, headers, got.text)
                    walked += 1
        assert walked >= 12
        keyed = {"X-API-Key": "k-123"}
        ok = httpx.post(
            f"{running.inference}/resolve-identity", json={"email": "a@b.co"}, headers=keyed
        )
        assert ok.status_code == 200
        event = _events(1, "k")
        assert httpx.post(f"{running.connector}/api/events", json=event, headers=keyed).is_success
    finally:
        running.stop()
