"""``train latency`` while serve runs: the deliveries come through serve's admin API as JSON."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn

from sendflowr.auth import token_path
from sendflowr.generator import generate_canonical
from sendflowr.serve.admin import create_admin_app
from sendflowr.serve.contract import Resources
from sendflowr.store import ClickHouseStore
from sendflowr.store.remote import RemoteQuery
from sendflowr.timing.training import fit_latency, load_deliveries
from tests.conftest import free_port
from tests.store_support import events_to_columns

ADMIN_TOKEN = "test-admin-token-" + "0" * 16


@pytest.fixture
def admin_url(store: ClickHouseStore, make_settings: Any) -> Iterator[str]:
    events = generate_canonical(seed=3, users=60)
    store.insert_columns("email_events", events_to_columns(events, datetime.now(UTC)))
    resources = Resources(make_settings(clickhouse_database=store.database))
    port = free_port()
    config = uvicorn.Config(create_admin_app(resources, ADMIN_TOKEN), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        resources.close()


def test_deliveries_through_the_admin_api_train_the_same_model(
    store: ClickHouseStore, admin_url: str
) -> None:
    remote = RemoteQuery(admin_url, ADMIN_TOKEN)
    assert remote.available()
    through_api = load_deliveries(remote, store.database)
    direct = load_deliveries(store, store.database)
    assert len(through_api) == len(direct) > 50
    assert str(through_api["send_time"].dtype).startswith("datetime64")
    now = datetime(2026, 1, 11, tzinfo=UTC)
    model_api, report_api = fit_latency(through_api, now=now)
    model_direct, report_direct = fit_latency(direct, now=now)
    assert report_api.test_rows == report_direct.test_rows
    assert np.allclose(model_api.coefficients, model_direct.coefficients)


def test_train_latency_command_while_serve_owns_the_store(
    store: ClickHouseStore, admin_url: str, tmp_path: Path
) -> None:
    # The command finds "serve" on the admin port and reads the events through it.
    env = dict(os.environ, SENDFLOWR_HOME=str(tmp_path), COLUMNS="120",
               SENDFLOWR_ADMIN_PORT=admin_url.rsplit(":", 1)[1],
               SENDFLOWR_CLICKHOUSE_DATABASE=store.database)  # fmt: skip
    env.pop("CLICKHOUSE_URL", None)
    # The token serve would have written for its CLI (the admin app here checks this one).
    token = token_path(tmp_path)
    token.write_text(ADMIN_TOKEN)
    token.chmod(0o600)
    result = subprocess.run(
        [sys.executable, "-m", "sendflowr", "train", "latency"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "held-out MAE" in result.stdout
    assert (tmp_path / "models" / "latency" / "LATEST").is_file()
    assert not (tmp_path / "clickhouse").exists()  # it never opened the store itself
