"""Readiness: while the store cannot accept rows the connector acknowledges nothing (503 +
Retry-After) and both apps' ``/health`` say why; a store failure in inference is a 503."""

from __future__ import annotations

from pathlib import Path

from sendflowr.clock import ManualClock
from sendflowr.connector import MemoryPublisher
from sendflowr.connector import create_app as create_connector
from sendflowr.errors import StoreError
from sendflowr.settings import Settings
from sendflowr.timing.api import create_app as create_inference
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import MemoryExplanations
from sendflowr.timing.sources import MemorySource
from tests.asgi import AppClient
from tests.unit.timing.synthetic import history
from tests.unit.timing.test_api import NOW, FakeResolver
from tests.unit.timing.test_decisions import FixedLatency

EVENT = {"event_type": "opened", "timestamp": "2025-10-01T07:15:00Z", "recipient_email": "a@b.co"}


def test_the_connector_stops_acknowledging_while_the_store_cannot_take_rows(
    tmp_path: Path,
) -> None:
    problem: list[str] = []
    publisher = MemoryPublisher()
    app = create_connector(
        Settings(home=tmp_path),
        publisher=publisher,
        readiness=lambda: problem[0] if problem else None,
    )
    client = AppClient(app)
    try:
        assert client.post("/api/events", json=[EVENT]).status_code == 200
        assert client.get("/health").json() == {"status": "ok", "kafka": "ok", "store": "ok"}
        problem.append("the ClickHouse data folder /x is missing")
        sent = len(publisher.records)
        got = client.post("/api/events", json=[EVENT])
        assert got.status_code == 503 and got.headers["retry-after"] == "5"
        assert "folder /x is missing" in got.json()["reason"]
        assert client.post("/api/mock/events/synthetic", json=EVENT).status_code == 503
        assert len(publisher.records) == sent  # nothing acknowledged, nothing published
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["store"] == "the ClickHouse data folder /x is missing"
        problem.clear()
        assert client.post("/api/events", json=[EVENT]).status_code == 200
    finally:
        client.close()


class _BrokenExplanations(MemoryExplanations):
    def save(self, decisions: object, inputs: object) -> None:
        raise StoreError("Code: 164. Cannot execute query in readonly mode", name="READONLY")


def test_inference_says_why_and_answers_503_not_500() -> None:
    evidence, _ = history({"m0": (8,), "m1": (9,)})

    def make_engine() -> TimingEngine:
        return TimingEngine(
            MemorySource(evidence, {}),
            _BrokenExplanations(),
            FixedLatency(1.0),
            clock=ManualClock(NOW),
        )

    app = create_inference(
        make_engine, make_resolver=FakeResolver, readiness=lambda: "the ingest session is read-only"
    )
    client = AppClient(app)
    try:
        health = client.get("/health")
        assert health.status_code == 503
        assert health.json()["store"] == "the ingest session is read-only"
        got = client.post("/timing-decision", json={"universal_id": "m0"})
        assert got.status_code == 503, got.text
        assert got.headers["retry-after"] == "5" and got.json()["error"] == "unavailable"
    finally:
        client.close()
