"""The README's main job, as a user runs it: up → status → sql → report → up again → down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _cli(
    args: list[str], env: dict[str, str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sendflowr", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    kafka = free_port()
    values = dict(os.environ)
    values.pop("CLICKHOUSE_URL", None)
    values.update(
        SENDFLOWR_HOME=str(tmp_path / "home"),
        SENDFLOWR_KAFKA_PORT=str(kafka),
        SENDFLOWR_KAFKA_CONTROLLER_PORT=str(free_port()),
        KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{kafka}",
        SENDFLOWR_CONNECTOR_PORT=str(free_port()),
        SENDFLOWR_INFERENCE_PORT=str(free_port()),
        SENDFLOWR_ADMIN_PORT=str(free_port()),
        COLUMNS="200",
    )
    return values


def _count(env: dict[str, str]) -> int:
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


def test_up_generates_through_the_flow_and_everything_can_be_inspected(
    env: dict[str, str], tmp_path: Path
) -> None:
    try:
        first = _cli(["up", "--count", "1500"], env)
        assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
        assert "Events with a universal_id" in first.stdout
        assert "Recent events" in first.stdout

        stored = _count(env)  # through serve's admin API: serve owns the chDB folder
        assert stored == 1500

        status = _cli(["status"], env)
        assert status.returncode == 0, status.stderr
        assert "healthy" in status.stdout and "email_events" in status.stdout

        report = _cli(["report", "--output", str(tmp_path / "report")], env)
        assert report.returncode == 0, report.stderr
        assert (tmp_path / "report" / "report.html").exists()

        again = _cli(["up", "--count", "1500", "--regenerate"], env)
        assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
        assert _count(env) == 1500, "re-sending the same events must not add rows"

        # `up` serves the seed client's mock endpoint, reading its zone-less times as UTC.
        port = env["SENDFLOWR_CONNECTOR_PORT"]
        seed_event = {
            "event_type": "opened",
            "timestamp": "2025-10-01T09:02:00",
            "recipient_email": "seed.client@example.com",
        }
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/mock/events/synthetic", json=seed_event, timeout=30
        )
        assert answer.status_code == 200, answer.text
    finally:
        down = _cli(["down"], env)
    assert down.returncode == 0, down.stderr
    assert "serve stopped" in down.stdout and "Kafka stopped" in down.stdout
    after = _cli(["status"], env)
    assert "not running" in after.stdout
