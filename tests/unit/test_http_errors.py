"""One error envelope everywhere: every 4xx of every app is ``{error, field, reason}``.

Walks every OpenAPI operation of the connector, inference and admin apps with malformed
bodies and malformed query parameters (plus an unknown route and a wrong method) and
checks each 4xx answer's shape; FastAPI's ``{"detail": [...]}`` must never come back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sendflowr.clock import ManualClock
from sendflowr.connector import MemoryPublisher
from sendflowr.connector import create_app as create_connector
from sendflowr.errors import StoreError
from sendflowr.http_errors import schema_error
from sendflowr.serve.admin import create_admin_app
from sendflowr.settings import Settings
from sendflowr.store import QueryResult
from sendflowr.timing.api import create_app as create_inference
from sendflowr.timing.curves import CurveConfig
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import MemoryExplanations
from sendflowr.timing.sources import MemorySource
from tests.asgi import AppClient
from tests.unit.timing.synthetic import START, history
from tests.unit.timing.test_api import FakeResolver
from tests.unit.timing.test_decisions import FixedLatency

_MALFORMED_BODIES = (
    b"{not json",
    b'{"unexpected_field": [1, 2]}',
    b"[]",
    b'{"universal_id": 12, "send_after": "yesterday", "recipients": "all"}',
)


class _Store:
    database, embedded = "sendflowr", True

    def query(self, sql: str, parameters: Any = None, *, readonly: bool = False) -> QueryResult:
        if "boom" in sql:
            raise StoreError("Syntax error near boom", code=62, name="SYNTAX_ERROR")
        return QueryResult(["x"], [(1,)])


class _Resources:
    def store(self, name: str | None = None, settings: Any = None) -> _Store:
        return _Store()


_ADMIN_TOKEN = "t" * 32


def _admin() -> AppClient:
    return AppClient(create_admin_app(_Resources(), _ADMIN_TOKEN))  # type: ignore[arg-type]


def _inference() -> AppClient:
    evidence, _ = history({"m0": (8,)})

    def make_engine() -> TimingEngine:
        return TimingEngine(MemorySource(evidence), MemoryExplanations(), FixedLatency(30.0),
                            config=CurveConfig(segments=2), clock=ManualClock(START))  # fmt: skip

    return AppClient(create_inference(make_engine, make_resolver=FakeResolver))


@pytest.fixture(params=["connector", "inference"])
def app_client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppClient]:
    # The admin app publishes no OpenAPI document; its errors are checked below.
    if request.param == "connector":
        client = AppClient(create_connector(Settings(home=tmp_path), publisher=MemoryPublisher()))
    else:
        client = _inference()
    try:
        yield client
    finally:
        client.close()


def _bad_value(schema: dict[str, Any]) -> str:
    kinds = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
    return "not-a-number" if kinds & {"integer", "number"} else "x" * 5000


def _requests(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in openapi["paths"].items():
        url = path.replace("{", "").replace("}", "")  # any path parameter: its own name
        for method, op in ops.items():
            params = [p for p in op.get("parameters", []) if p["in"] == "query"]
            bad_query = {p["name"]: _bad_value(p.get("schema", {})) for p in params}
            if method in ("post", "put", "patch"):
                for body in _MALFORMED_BODIES:
                    headers = {"content-type": "application/json"}
                    yield method, url, {"content": body, "headers": headers}
            else:
                yield method, url, {}
            if bad_query:
                yield method, url, {"params": bad_query}


def _check_envelope(response: httpx.Response, what: str) -> None:
    body = response.json()
    assert isinstance(body, dict), what
    assert "detail" not in body, f"{what}: {body}"
    assert {"error", "field", "reason"} <= set(body), f"{what}: {body}"
    assert isinstance(body["error"], str) and body["error"], what
    assert isinstance(body["reason"], str) and body["reason"], what
    assert body["field"] is None or isinstance(body["field"], str), what


def test_every_4xx_of_every_operation_has_the_envelope(app_client: AppClient) -> None:
    openapi = app_client.get("/openapi.json").json()
    seen = 0
    for method, url, kwargs in _requests(openapi):
        response = app_client.request(method.upper(), url, **kwargs)
        what = f"{method.upper()} {url} {kwargs}"
        assert response.status_code < 500, f"{what}: {response.status_code} {response.text}"
        if 400 <= response.status_code < 500:
            _check_envelope(response, what)
            seen += 1
    assert seen >= len(openapi["paths"]) // 2  # the walk really produced errors


def test_unknown_route_and_wrong_method(app_client: AppClient) -> None:
    missing = app_client.get("/no/such/route")
    assert missing.status_code == 404
    _check_envelope(missing, "unknown route")
    assert missing.json()["error"] == "not_found"
    wrong = app_client.request("DELETE", "/health")
    assert wrong.status_code == 405
    _check_envelope(wrong, "wrong method")
    assert wrong.json()["error"] == "method_not_allowed"


def test_schema_errors_name_the_field() -> None:
    client = _inference()
    try:
        r = client.post("/timing-decision", json={"universal_id": "m0", "payload_size_bytes": -1})
        assert r.status_code == 422
        assert r.json() == {
            "error": "invalid",
            "field": "payload_size_bytes",
            "reason": "Input should be greater than or equal to 0",
        }
        bad_json = client.post(
            "/timing-decision", content=b"{", headers={"content-type": "application/json"}
        )
        assert bad_json.status_code == 400 and bad_json.json()["error"] == "bad_request"
        missing = client.post("/timing-decisions", json={})
        assert missing.json()["field"] == "recipients"
        assert missing.json()["reason"] == "missing required field"
    finally:
        client.close()


def test_admin_errors_have_the_envelope() -> None:
    client = _admin()
    try:
        for response in (
            client.get("/no/such/route"),
            client.request("DELETE", "/health"),
            client.post("/sql", json={"query": "SELECT 1"}),  # no token
            client.post("/sql", content=b"{", headers={"Authorization": f"Bearer {_ADMIN_TOKEN}"}),
        ):
            assert 400 <= response.status_code < 500
            _check_envelope(response, f"admin {response.status_code}")
    finally:
        client.close()


def test_admin_store_errors_keep_clickhouse_code() -> None:
    client = _admin()
    try:
        auth = {"Authorization": f"Bearer {_ADMIN_TOKEN}"}
        r = client.post("/sql", json={"query": "SELECT boom"}, headers=auth)
        assert r.status_code == 400
        assert r.json() == {"error": "query_failed", "field": "query",
                            "reason": "Syntax error near boom", "code": 62,
                            "name": "SYNTAX_ERROR"}  # fmt: skip
    finally:
        client.close()


def test_schema_error_mapping() -> None:
    assert schema_error([]) == (422, "invalid", "$", "invalid request")
    loc = ("query", "count")
    assert schema_error([{"type": "int_parsing", "loc": loc, "msg": "bad"}])[2] == "count"
    nested = ("body", "recipients", 3, "email")
    assert schema_error([{"type": "string_too_long", "loc": nested, "msg": "m"}])[2] == (
        "recipients.3.email"
    )
