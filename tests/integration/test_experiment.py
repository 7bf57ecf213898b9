"""``sendflowr experiment`` and ``sendflowr simulate`` as a user runs them, on the real broker.

The experiment runs in a subprocess (its own embedded chDB folder, its own ports): warm-up
through connector → Kafka → sink → ClickHouse, the engine reached over HTTP on the
simulation's clock, figures in the JSON file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sendflowr.kafka import ensure_topics, topic_offsets
from tests.conftest import free_port, unique_name


def _wait_healthy(url: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not become healthy")


def _env(home: Path, bootstrap: str) -> dict[str, str]:
    env = dict(os.environ, SENDFLOWR_HOME=str(home), KAFKA_BOOTSTRAP_SERVERS=bootstrap)
    env.update(
        SENDFLOWR_CONNECTOR_PORT=str(free_port()),
        SENDFLOWR_INFERENCE_PORT=str(free_port()),
        SENDFLOWR_ADMIN_PORT=str(free_port()),
        COLUMNS="160",
    )
    env.pop("CLICKHOUSE_URL", None)
    env.pop("SENDFLOWR_API_KEY", None)
    return env


def test_a_small_experiment_through_the_real_flow(tmp_path: Path, kafka_bootstrap: str) -> None:
    out = tmp_path / "experiment.json"
    args = ["--seed", "5", "--users", "40", "--weeks", "1", "--warmup-start", "2025-11-15",
            "--json", str(out), "--output", str(tmp_path), "--resamples", "200"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "sendflowr", "experiment", *args],
        env=_env(tmp_path / "home", kafka_bootstrap),
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    arms = figures["arms"]
    assert set(arms) == {"fixed", "hourly", "sendflowr", "oracle"}
    for name, arm in arms.items():
        assert arm["sends"] > 0, name
        lo, hi = arm["ci95"]
        assert lo <= arm["expected_clicks_per_delivered"] <= hi
    # the engine was asked through the API and every send it chose left the suppressions alone
    assert figures["run"]["engine_calls"] > 0
    assert arms["sendflowr"]["suppressed_sends"] == 0
    assert set(figures["lift_vs_fixed"]) == {"hourly", "sendflowr", "oracle"}
    assert figures["per_persona"]
    assert figures["run"]["events_acknowledged"] > figures["config"]["warmup_events"]
    assert "Lift by arm" in (tmp_path / "experiment.html").read_text()


def test_live_mode_max_speed_lands_every_event(tmp_path: Path, kafka_bootstrap: str) -> None:
    env = _env(tmp_path, kafka_bootstrap)
    topic = unique_name("live")
    ensure_topics(kafka_bootstrap, [(topic, 3), (f"{topic}-dlq", 1)])
    env.update(SENDFLOWR_TOPIC=topic, SENDFLOWR_DLQ_TOPIC=f"{topic}-dlq")
    env.update(SENDFLOWR_CONSUMER_GROUP=unique_name("group"), SENDFLOWR_MOCK_ENDPOINTS="false")
    serve = subprocess.Popen(
        [sys.executable, "-m", "sendflowr", "serve", "--role", "connector"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{env['SENDFLOWR_CONNECTOR_PORT']}/health")
        url = f"http://127.0.0.1:{env['SENDFLOWR_CONNECTOR_PORT']}"
        args = ["--seed", "3", "--users", "20", "--speed", "max", "--start", "2026-01-10",
                "--until", "2026-01-13", "--no-progress", "--connector-url", url]  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-m", "sendflowr", "simulate", *args],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        serve.terminate()
        serve.wait(timeout=60)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    produced = sum(p.high for p in topic_offsets(kafka_bootstrap, topic))
    released = int(result.stdout.split("Released ")[1].split(" events")[0].replace(",", ""))
    assert produced == released > 0
