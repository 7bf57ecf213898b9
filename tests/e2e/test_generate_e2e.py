"""``sendflowr generate --count 2000`` through the real flow lands exactly 2000 rows.

generator ─HTTP─▶ connector ─Kafka─▶ sink ─▶ chDB, with ``sendflowr serve`` as a
subprocess in its own SENDFLOWR_HOME on free ports and the session's broker;
then the seed's verification queries answer through ``sendflowr sql``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sendflowr.kafka import ensure_topics
from sendflowr.settings import Settings
from sendflowr.timing.zones import is_zone
from tests.conftest import free_port, unique_name

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sendflowr", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


@pytest.fixture
def serve_env(tmp_path: Path, kafka_bootstrap: str) -> Iterator[dict[str, str]]:
    topic = unique_name("gen")
    ensure_topics(kafka_bootstrap, [(topic, 3), (f"{topic}-dlq", 1)])
    env = dict(os.environ)
    env.pop("CLICKHOUSE_URL", None)
    env.update(
        SENDFLOWR_HOME=str(tmp_path / "home"),
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        SENDFLOWR_TOPIC=topic,
        SENDFLOWR_DLQ_TOPIC=f"{topic}-dlq",
        SENDFLOWR_CONSUMER_GROUP=unique_name("group"),
        SENDFLOWR_CONNECTOR_PORT=str(free_port()),
        SENDFLOWR_INFERENCE_PORT=str(free_port()),
        SENDFLOWR_ADMIN_PORT=str(free_port()),
        SENDFLOWR_MOCK_ENDPOINTS="true",  # the seed client's endpoint
        COLUMNS="200",
    )
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sendflowr", "serve"], env=env, stdout=log, stderr=log
    )
    try:
        url = f"http://127.0.0.1:{env['SENDFLOWR_CONNECTOR_PORT']}/health"
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not become healthy"
            time.sleep(0.5)
        yield env
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        home=Path(env["SENDFLOWR_HOME"]),
        kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
        topic=env["SENDFLOWR_TOPIC"],
        consumer_group=env["SENDFLOWR_CONSUMER_GROUP"],
    )


def _stored(env: dict[str, str]) -> int:
    from sendflowr.cli.up import wait_until_stored

    wait_until_stored(_settings(env), timeout=300)
    out = _cli(
        [
            "sql",
            "--format",
            "csv",
            "SELECT count() FROM sendflowr.email_events WHERE universal_id LIKE 'sf_%'",
        ],
        env,
    )
    assert out.returncode == 0, out.stderr
    return int(out.stdout.splitlines()[1])


def test_count_2000_lands_exactly_2000_rows(serve_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{serve_env['SENDFLOWR_CONNECTOR_PORT']}"
    args = ["generate", "--count", "2000", "--seed", "7", "--no-progress", "--connector-url", url]
    first = _cli(args, serve_env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "acknowledged" in first.stdout and "2,000" in first.stdout
    assert _stored(serve_env) == 2000

    recent = _cli(
        [
            "sql",
            "--format",
            "csv",
            "SELECT universal_id, substring(recipient_email_hash, 1, 16), event_type "
            "FROM sendflowr.email_events WHERE universal_id LIKE 'sf_%' "
            "ORDER BY timestamp DESC LIMIT 10",
        ],
        serve_env,
    )
    assert recent.returncode == 0, recent.stderr
    lines = recent.stdout.splitlines()
    assert len(lines) == 11 and all(line.startswith("sf_") for line in lines[1:])

    # Recipients' zones went the whole way: generator → connector → Kafka → sink → column.
    zones = _cli(
        ["sql", "--format", "csv",
         "SELECT timezone, count() FROM sendflowr.email_events WHERE timezone != '' "
         "GROUP BY timezone ORDER BY timezone"],
        serve_env,
    )  # fmt: skip
    assert zones.returncode == 0, zones.stderr
    names = {line.split(",")[0].strip('"') for line in zones.stdout.splitlines()[1:]}
    assert len(names) >= 2 and all(is_zone(n) for n in names), names  # quick mode: a few users

    # Sending the same seed again (a retry of every batch) adds no rows.
    again = _cli(args, serve_env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert _stored(serve_env) == 2000
