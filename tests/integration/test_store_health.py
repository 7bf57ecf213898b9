"""The store made read-only under running roles (one process, real broker and chDB): the
connector answers 503 + Retry-After and its ``/health`` and inference's say why."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sendflowr.serve.compose import build_role
from sendflowr.serve.contract import Resources
from sendflowr.settings import Settings
from tests.asgi import AppClient

EVENT = {"event_type": "opened", "timestamp": "2025-10-01T07:15:00Z", "recipient_email": "a@b.co"}


@pytest.fixture
def resources(kafka_settings: Settings) -> Iterator[Resources]:
    res = Resources(kafka_settings, roles=("connector", "consumer", "inference"))
    try:
        yield res
    finally:
        res.store("cleanup").command(
            f"DROP DATABASE IF EXISTS `{kafka_settings.clickhouse_database}`"
        )
        res.close()


def test_a_read_only_ingest_session_stops_acknowledgements_and_health_says_why(
    resources: Resources,
) -> None:
    health = resources.store_health()
    connector = AppClient(build_role("connector", resources).app)
    inference = AppClient(build_role("inference", resources).app)
    try:
        assert connector.post("/api/events", json=[EVENT]).status_code == 200
        assert connector.get("/health").json()["store"] == "ok"
        assert inference.get("/health").status_code == 200

        # What a failed admin INSERT used to leave behind on the shared session.
        resources.store("ingest").client.command("SET readonly = 1")
        assert "read-only" in (health.check() or "")

        got = connector.post("/api/events", json=[EVENT])
        assert got.status_code == 503 and got.headers["retry-after"] == "5"
        assert "read-only" in got.json()["reason"]
        for client in (connector, inference):
            answer = client.get("/health")
            assert answer.status_code == 503
            assert "read-only" in answer.json()["store"]
    finally:
        connector.close()
        inference.close()
