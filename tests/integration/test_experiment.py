"""``sendflowr experiment`` and ``sendflowr simulate`` as a user runs them, on the real broker.

The experiment runs in a subprocess (its own embedded chDB folder, its own ports): warm-up
through connector → Kafka → sink → ClickHouse, the engine reached over HTTP on the
simulation's clock, figures in the JSON file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

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


def _experiment(folder: Path, bootstrap: str) -> dict[str, Any]:
    out = folder / "experiment.json"
    args = ["--seed", "5", "--users", "40", "--weeks", "1", "--warmup-start", "2025-11-15",
            "--json", str(out), "--output", str(folder), "--resamples", "200"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "sendflowr", "experiment", *args],
        env=_env(folder / "home", bootstrap),
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    figures: dict[str, Any] = json.loads(out.read_text())
    return figures


def test_a_small_experiment_through_the_real_flow(tmp_path: Path, kafka_bootstrap: str) -> None:
    figures = _experiment(tmp_path / "first", kafka_bootstrap)
    tmp_path = tmp_path / "first"
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
    # same seed, a fresh store and topic: the same assignments, decisions and figures
    again = _experiment(tmp_path.parent / "second", kafka_bootstrap)
    for key in ("arms", "lift_vs_fixed", "lift_vs_hourly", "share_of_oracle", "per_persona"):
        assert again[key] == figures[key], key


@pytest.fixture
def connector(tmp_path: Path, kafka_bootstrap: str) -> Iterator[tuple[dict[str, str], str]]:
    """A ``serve --role connector`` on its own topic: (environment, topic)."""
    env = _env(tmp_path, kafka_bootstrap)
    topic = unique_name("live")
    ensure_topics(kafka_bootstrap, [(topic, 3), (f"{topic}-dlq", 1)])
    env.update(SENDFLOWR_TOPIC=topic, SENDFLOWR_DLQ_TOPIC=f"{topic}-dlq")
    env.update(SENDFLOWR_CONSUMER_GROUP=unique_name("group"), SENDFLOWR_MOCK_ENDPOINTS="false")
    env["SENDFLOWR_CONNECTOR_URL"] = f"http://127.0.0.1:{env['SENDFLOWR_CONNECTOR_PORT']}"
    serve = subprocess.Popen(
        [sys.executable, "-m", "sendflowr", "serve", "--role", "connector"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_healthy(f"{env['SENDFLOWR_CONNECTOR_URL']}/health")
        yield env, topic
    finally:
        serve.terminate()
        serve.wait(timeout=60)


def _released(stdout: str) -> int:
    return int(stdout.split("Released ")[1].split(" events")[0].replace(",", ""))


def test_live_mode_max_speed_lands_every_event(
    connector: tuple[dict[str, str], str], kafka_bootstrap: str
) -> None:
    env, topic = connector
    args = ["--seed", "3", "--users", "20", "--speed", "max", "--start", "2026-01-10",
            "--until", "2026-01-13", "--no-progress"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "sendflowr", "simulate", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    produced = sum(p.high for p in topic_offsets(kafka_bootstrap, topic))
    assert produced == _released(result.stdout) > 0


def test_ctrl_c_stops_cleanly_with_nothing_half_sent(
    connector: tuple[dict[str, str], str], kafka_bootstrap: str
) -> None:
    env, topic = connector
    proc = subprocess.Popen(
        [sys.executable, "-m", "sendflowr", "simulate", "--seed", "4", "--users", "30",
         "--speed", "43200", "--start", "2026-01-10", "--no-progress"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(6)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stdout[-2000:] + stderr[-2000:]
    released = _released(stdout)
    produced = sum(p.high for p in topic_offsets(kafka_bootstrap, topic))
    assert produced == released > 0  # every released event acknowledged, none half-sent


def test_stopping_the_stack_stops_the_inference_roles_own_threads(
    kafka_settings: Any, privacy_findings: Any
) -> None:
    # The HTTP roles' own stop (the inference's live-context consumer, schedule firing and
    # explanation writer) runs when the stack stops; left running, they outlived the run
    # and retried a broker `sendflowr experiment` had already stopped. In this process:
    # the session's chDB folder (one engine per process), a database of the test's own.
    import threading

    from sendflowr.clock import ManualClock
    from sendflowr.experiment.stack import Stack
    from tests.conftest import drop_database

    settings = kafka_settings.model_copy(update={
        "connector_port": free_port(), "inference_port": free_port(),
        "admin_port": free_port(),
    })  # fmt: skip
    stack = Stack(settings, ManualClock.at_ms(0))
    names = {"sendflowr-live", "sendflowr-schedules", "sendflowr-explanations"}
    before = set(threading.enumerate())  # another test's leftovers are not this stack's

    def running() -> set[str]:
        return {t.name for t in threading.enumerate() if t not in before and t.is_alive()} & names

    try:
        stack.start()
        assert httpx.get(f"{stack.inference_url}/health", timeout=30).status_code == 200
        assert running() == names
        drop_database(stack.store(), privacy_findings)
    finally:
        stack.stop()
    assert running() == set()
