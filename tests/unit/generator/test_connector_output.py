"""The connector sink: batching, retries on 503/connection errors, the unavailable hint."""

from __future__ import annotations

import socket
from datetime import date

import httpx
import orjson
import pytest

from sendflowr.errors import ConnectorUnavailable
from sendflowr.generator import model_for
from sendflowr.generator.outputs.connector import ConnectorOutput, RateLimiter
from sendflowr.generator.run import Plan, run


def _plan(count: int) -> Plan:
    return Plan(model_for(None), 1, date(2025, 10, 1), date(2026, 1, 10), count=count)


class _Connector:
    """A stand-in connector: fails the first ``fail`` posts with ``status`` then accepts."""

    def __init__(self, fail: int = 0, status: int = 503) -> None:
        self.fail, self.status = fail, status
        self.bodies: list[list[dict[str, object]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200, json={"status": "ok"})
        batch = orjson.loads(request.content)
        self.bodies.append(batch)
        if self.fail:
            self.fail -= 1
            if self.status == 0:
                raise httpx.ConnectError("refused", request=request)
            return httpx.Response(self.status, headers={"Retry-After": "0"}, json={"error": "x"})
        return httpx.Response(200, json={"accepted": len(batch), "rejected": []})


def _sink(handler: _Connector, **kw: object) -> ConnectorOutput:
    return ConnectorOutput(
        model_for(None),
        "http://connector.test",
        transport=httpx.MockTransport(handler),
        rate=10_000,
        max_backoff=0.01,
        **kw,  # type: ignore[arg-type]
    )


def test_batches_carry_incoming_events_and_all_are_acknowledged() -> None:
    handler = _Connector()
    sink = _sink(handler, batch_size=100)
    result = run(_plan(1000), sink)
    assert result.stats.sent == result.stats.acknowledged == 1000
    assert len(handler.bodies) == 10 and all(len(b) == 100 for b in handler.bodies)
    assert handler.bodies[0][0]["recipient_email"] == "user0000@example.test"


@pytest.mark.parametrize("status", [503, 429, 0])
def test_retries_then_succeeds_with_the_same_event_ids(status: int) -> None:
    handler = _Connector(fail=2, status=status)
    sink = _sink(handler, batch_size=500, concurrency=1)
    result = run(_plan(500), sink)
    assert result.stats.acknowledged == 500 and result.stats.failed == 0
    assert result.stats.retries == 2
    ids = [[e["event_id"] for e in body] for body in handler.bodies]
    assert ids[0] == ids[1] == ids[2]  # a resent batch keeps its ids


def test_gives_up_after_max_attempts_and_counts_failures() -> None:
    handler = _Connector(fail=100, status=503)
    sink = _sink(handler, batch_size=250, max_attempts=3, concurrency=1)
    result = run(_plan(500), sink)
    assert result.stats.failed == 500 and result.stats.acknowledged == 0
    assert "gave up after 3 attempts" in sink.errors[0]


def test_client_errors_are_not_retried() -> None:
    handler = _Connector(fail=1, status=422)
    sink = _sink(handler, batch_size=500, concurrency=1)
    result = run(_plan(500), sink)
    assert result.stats.failed == 500 and len(handler.bodies) == 1


def test_nothing_listening_gives_the_seed_hint() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = ConnectorOutput(model_for(None), f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectorUnavailable) as info:
        sink.open()
    assert "Connector API not available" in str(info.value)
    assert "sendflowr serve" in str(info.value)


def test_rate_limiter_spaces_acquisitions() -> None:
    now = [0.0]
    limiter = RateLimiter(100, clock=lambda: now[0])
    waits = [limiter.acquire() for _ in range(3)]
    assert waits[0] == 0.0 and waits[1] == pytest.approx(0.01) and waits[2] == pytest.approx(0.02)


def test_a_2xx_that_is_not_the_connectors_answer_counts_as_failed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200)
        return httpx.Response(200, text="<html>proxy</html>")

    sink = _sink(handler, batch_size=500)  # type: ignore[arg-type]
    result = run(_plan(500), sink)
    assert result.stats.failed == 500 and "unexpected answer" in sink.errors[0]
