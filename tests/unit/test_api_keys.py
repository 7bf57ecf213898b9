"""``SENDFLOWR_API_KEY`` guards every operation of every app but health and metrics.

The tests walk each app's OpenAPI document, so an endpoint added later without
the key fails here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from sendflowr.connector import MemoryPublisher
from sendflowr.connector import create_app as create_connector
from sendflowr.settings import Settings
from sendflowr.timing.api import create_app as create_inference
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import MemoryExplanations
from sendflowr.timing.sources import MemorySource
from tests.asgi import AppClient
from tests.unit.timing.test_api import FakeResolver
from tests.unit.timing.test_decisions import FixedLatency

# Health, metrics and the service pages (no recipient data) are open.
OPEN = {"/health", "/metrics", "/", "/scalar", "/scalar/v1"}
KEY = "s3cret-key"


def _operations(client: AppClient) -> list[tuple[str, str]]:
    spec = client.app.openapi()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    ]


@pytest.fixture
def inference() -> Iterator[AppClient]:
    def make_engine() -> TimingEngine:
        return TimingEngine(MemorySource([], {}), MemoryExplanations(), FixedLatency(1.0))

    client = AppClient(create_inference(make_engine, make_resolver=FakeResolver, api_key=KEY))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[AppClient]:
    settings = Settings(home=tmp_path, api_key=SecretStr(KEY), mock_endpoints=True)
    client = AppClient(create_connector(settings, publisher=MemoryPublisher()))
    try:
        yield client
    finally:
        client.close()


@pytest.mark.parametrize("app", ["inference", "connector"])
def test_every_data_operation_needs_the_key(app: str, request: pytest.FixtureRequest) -> None:
    client: AppClient = request.getfixturevalue(app)
    operations = _operations(client)
    guarded = [(m, p) for m, p in operations if p not in OPEN]
    assert len(guarded) >= (9 if app == "inference" else 3), operations
    for method, path in guarded:
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
            got = client.request(method, path, headers=headers, json={})
            assert got.status_code == 401, (method, path, headers, got.text)
            assert got.json()["error"] == "unauthorized"
    for method, path in operations:
        if path in OPEN:
            assert client.request(method, path).status_code in (200, 503), path


def test_the_right_key_passes_the_guard(inference: AppClient) -> None:
    for headers in ({"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}):
        got = inference.post("/resolve-identity", headers=headers, json={"email": "a@b.co"})
        assert got.status_code == 200, got.text
        assert inference.get("/explanations/nope", headers=headers).status_code == 404
