"""``sendflowr train latency`` as a user runs it, on a generated history in its own home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_LOAD = """
from datetime import UTC, datetime
from sendflowr.generator import generate_canonical
from sendflowr.settings import Settings
from sendflowr.store import ClickHouseStore
from tests.store_support import events_to_columns
store = ClickHouseStore(Settings())
store.start()
events = generate_canonical(seed=3, users=60)
store.insert_columns("email_events", events_to_columns(events, datetime.now(UTC)))
"""


def test_train_latency_reports_mae_and_writes_a_versioned_artifact(tmp_path: Path) -> None:
    env = dict(os.environ, SENDFLOWR_HOME=str(tmp_path), COLUMNS="120")
    env.pop("CLICKHOUSE_URL", None)
    subprocess.run([sys.executable, "-c", _LOAD], env=env, check=True, timeout=300)
    result = subprocess.run(
        [sys.executable, "-m", "sendflowr", "train", "latency"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "model" in out and "heuristic" in out and "constant 300 s" in out
    folder = tmp_path / "models" / "latency"
    artifact = folder / (folder / "LATEST").read_text().strip()
    data = json.loads(artifact.read_text())
    assert data["version"].startswith("latency-") and data["features"]
    assert len(data["coefficients"]) == len(data["features"])
    assert data["metrics"]["model_mae"] <= 0.5 * data["metrics"]["constant_mae"]


def test_train_latency_rejects_a_bad_holdout(tmp_path: Path) -> None:
    env = dict(os.environ, SENDFLOWR_HOME=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "sendflowr", "train", "latency", "--holdout", "1.5"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--holdout" in result.stderr
