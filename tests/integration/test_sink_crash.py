"""Crash safety: ``sendflowr serve --role consumer`` SIGKILLed five times, then a reset.

Each consumer runs in its own process with its own SENDFLOWR_HOME (chDB locks
its folder per process); counts are read with ``sendflowr sql`` once no
consumer runs.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from sendflowr.settings import Settings
from sendflowr.store.schema import quote_identifier
from tests.conftest import free_port
from tests.integration.sink_support import (
    committed_total,
    event_records,
    lag,
    produce,
    reset_group_to_earliest,
    wait_for,
)
from tests.unit.sink.factory import make_events

TOTAL = 20_000


def _env(
    settings: Settings, home: Path, fault: str | None = None, *, lookup: bool = False
) -> dict[str, str]:
    """The consumer's environment. The duplicate checks of every chunk (id memory and
    lookup) are off unless asked for, so the kills prove the offset-range tokens, the
    replayed boundaries and the check of replayed chunks (always on) on their own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENDFLOWR_")}
    env.pop("CLICKHOUSE_URL", None)
    env.update(
        SENDFLOWR_HOME=str(home),
        KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
        SENDFLOWR_TOPIC=settings.topic,
        SENDFLOWR_DLQ_TOPIC=settings.dlq_topic,
        SENDFLOWR_CONSUMER_GROUP=settings.consumer_group,
        SENDFLOWR_CLICKHOUSE_DATABASE=settings.clickhouse_database,
        SENDFLOWR_SINK_BATCH_SIZE="250",
        SENDFLOWR_SINK_MAX_WAIT_MS="100",
        SENDFLOWR_ADMIN_PORT=str(free_port()),  # serve's loopback admin API
        SENDFLOWR_SINK_DEDUP_LOOKUP="true" if lookup else "false",
        SENDFLOWR_SINK_RECENT_IDS="1000000" if lookup else "0",
    )
    if fault:
        env["SENDFLOWR_SINK_FAULT"] = fault
    return env


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sendflowr", "serve", "--role", "consumer"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def _counts(env: dict[str, str], database: str) -> tuple[int, int]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sendflowr",
            "sql",
            "--format",
            "csv",
            f"SELECT count(), uniqExact(event_id) FROM {quote_identifier(database)}.email_events",  # noqa: S608
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    count, unique = result.stdout.strip().splitlines()[1].split(",")
    return int(count), int(unique)


def _run_to_the_end(env: dict[str, str], settings: Settings, log: Path) -> str:
    """Run a consumer until the group has no lag; return its /metrics text; SIGTERM it."""
    port = free_port()
    proc = _start({**env, "SENDFLOWR_SINK_METRICS_PORT": str(port)}, log)
    try:
        wait_for(lambda: lag(settings) == 0, 180, "the consumer to catch up")
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()[-3000:]
    finally:
        _kill(proc)
    return metrics


def test_five_kill_9s_then_a_group_reset_leave_each_event_once(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    settings = kafka_settings
    home = tmp_path / "home"
    log = tmp_path / "consumer.log"
    assert produce(settings, event_records(make_events(TOTAL, seed=21))) == TOTAL

    # Kills 1 and 2 come from the fault hook: right after an insert (before its commit),
    # and right after the intents (before the insert). Kills 3-5 are SIGKILLs from here,
    # at whatever point the consumer has reached once it made progress.
    faults = ["after-insert:3", "after-intent:2", None, None, None]
    for fault in faults:
        before = committed_total(settings)
        proc = _start(_env(settings, home, fault), log)
        try:
            if fault:
                assert proc.wait(180) == -signal.SIGKILL, log.read_text()[-3000:]
            else:
                wait_for(
                    lambda before=before, proc=proc: (
                        committed_total(settings) > before + 500 or proc.poll() is not None
                    ),
                    180,
                    "consumer progress",
                )
                assert proc.poll() is None, log.read_text()[-3000:]
        finally:
            _kill(proc)
        assert lag(settings) != 0, "the consumer finished before it could be killed"

    env = _env(settings, home)
    metrics = _run_to_the_end(env, settings, log)
    assert 'sendflowr_sink_records_total{outcome="stored"}' in metrics
    assert "sendflowr_sink_lag" in metrics
    text = log.read_text()
    # A kill after an insert made the next run re-cut the announced chunks, two at a time.
    assert re.search(r"replaying from \d+ to \[\d+, \d+\]", text), text[-3000:]
    assert _counts(env, settings.clickhouse_database) == (TOTAL, TOTAL)

    # A reset re-reads everything with new boundaries: only the id lookup can drop it.
    reset_group_to_earliest(settings)
    assert lag(settings) == TOTAL
    metrics = _run_to_the_end(_env(settings, home, lookup=True), settings, log)
    assert f'sendflowr_sink_records_total{{outcome="duplicate"}} {TOTAL:.1f}' in metrics
    assert _counts(env, settings.clickhouse_database) == (TOTAL, TOTAL)
