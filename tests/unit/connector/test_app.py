"""The connector app over an in-memory publisher: status codes, bodies, access, privacy."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import uuid5

import pytest

from sendflowr.connector import MemoryPublisher, create_app
from sendflowr.connector.ids import PROVIDER_NAMESPACE
from sendflowr.errors import ServiceError
from sendflowr.events import decode_event
from sendflowr.identity import IdentityResolver, hash_email, universal_id_for
from sendflowr.settings import Settings
from tests.asgi import AppClient
from tests.unit.connector.signing import klaviyo_headers, sendgrid_headers, sendgrid_keypair

UID = re.compile(r"^sf_[0-9a-f]{16}$")
JSON = {"content-type": "application/json"}


def event(i: int = 0, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_type": "delivered",
        "timestamp": "2025-10-01T10:00:00Z",
        "recipient_email": f"Person{i}@Example.com",
        "event_id": f"ev-{i}",
    }
    base.update(overrides)
    return base


def test_batch_is_published_hashed_keyed_and_answered(
    client: AppClient, publisher: MemoryPublisher
) -> None:
    response = client.post("/api/events", content=json.dumps([event(i) for i in range(5)]))
    assert response.status_code == 200
    assert response.json() == {"accepted": 5, "rejected": []}
    assert len(publisher.records) == 5
    for i, (key, value) in enumerate(publisher.records):
        published = decode_event(value)
        email_hash = hash_email(f"person{i}@example.com")
        assert published.recipient_email_hash == email_hash
        assert published.universal_id == universal_id_for("email", email_hash)
        assert UID.match(published.universal_id)
        assert key == published.universal_id.encode()
        # "ev-i" is the sender's own id: kept beside the UUID derived from it.
        assert published.metadata["provider_event_id"] == f"ev-{i}"
        assert published.event_id == str(uuid5(PROVIDER_NAMESPACE, f":ev-{i}"))
        assert b"@" not in value


def test_ndjson_is_accepted(client: AppClient, publisher: MemoryPublisher) -> None:
    body = "\n".join(json.dumps(event(i)) for i in range(3))
    response = client.post(
        "/api/events", content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert response.json()["accepted"] == 3


def test_mixed_batch_reports_each_rejected_index(
    client: AppClient, publisher: MemoryPublisher
) -> None:
    items = [event(0), event(1, event_type="nope"), event(2, timestamp="never"), event(3)]
    response = client.post("/api/events", content=json.dumps(items))
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "event_type"),
        (2, "timestamp"),
    ]
    assert len(publisher.records) == 2


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (json.dumps([event(0, event_type="nope")]), 422),
        (json.dumps([{"timestamp": "2025-10-01T10:00:00Z"}]), 422),
        ("[{broken", 400),
        ("", 400),
        ("[]", 400),
    ],
)
def test_bad_input_status_codes(
    client: AppClient, publisher: MemoryPublisher, body: str, status: int
) -> None:
    response = client.post("/api/events", content=body)
    assert response.status_code == status
    assert publisher.records == []


def test_too_many_events_or_bytes_is_413(
    make_client: Callable[..., AppClient], publisher: MemoryPublisher
) -> None:
    client = make_client(connector_max_events=3, connector_max_bytes=2000)
    assert (
        client.post("/api/events", content=json.dumps([event(i) for i in range(4)])).status_code
        == 413
    )
    big = json.dumps([event(0, subject="x" * 3000)])
    assert client.post("/api/events", content=big).status_code == 413
    assert publisher.records == []


def test_kafka_down_is_503_with_retry_after(client: AppClient, publisher: MemoryPublisher) -> None:
    publisher.available = False
    response = client.post("/api/events", content=json.dumps([event(0)]))
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert client.get("/health").status_code == 503
    publisher.available = True
    assert client.get("/health").status_code == 200
    assert client.post("/api/events", content=json.dumps([event(0)])).status_code == 200


def test_api_key_is_required_when_configured(
    make_client: Callable[..., AppClient], publisher: MemoryPublisher
) -> None:
    client = make_client(api_key="s3cret")
    body = json.dumps([event(0)])
    assert client.post("/api/events", content=body).status_code == 401
    assert (
        client.post("/api/events", content=body, headers={"X-API-Key": "nope"}).status_code == 401
    )
    assert (
        client.post("/api/events", content=body, headers={"X-API-Key": "s3cret"}).status_code == 200
    )
    bearer = {"Authorization": "Bearer s3cret"}
    assert (
        client.post(
            "/api/mock/events/synthetic", content=json.dumps(event(1)), headers=bearer
        ).status_code
        == 200
    )
    assert len(publisher.records) == 2


def test_synthetic_endpoint_answers_ids(client: AppClient) -> None:
    response = client.post("/api/mock/events/synthetic", content=json.dumps(event(7)))
    assert response.status_code == 200
    body = response.json()
    assert body["event_id"] == str(uuid5(PROVIDER_NAMESPACE, ":ev-7"))
    assert body["universal_id"] == universal_id_for("email", hash_email("person7@example.com"))
    bad = client.post("/api/mock/events/synthetic", content=json.dumps(event(7, event_type="x")))
    assert bad.status_code == 422
    assert bad.json()["field"] == "event_type"


def test_generate_publishes_count_events(client: AppClient, publisher: MemoryPublisher) -> None:
    response = client.post("/api/mock/events/generate", params={"count": 37, "seed": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 37 and body["seed"] == 3
    assert body["source"] in {"generator", "journey"}
    assert len(publisher.records) == 37
    assert client.post("/api/mock/events/generate", params={"count": 0}).status_code == 422


def test_mock_endpoints_can_be_switched_off(make_client: Callable[..., AppClient]) -> None:
    client = make_client(mock_endpoints=False)
    assert client.post("/api/mock/events/generate").status_code == 404
    assert (
        client.post("/api/mock/events/synthetic", content=json.dumps(event(0))).status_code == 404
    )


def test_klaviyo_webhook_signature_gate(
    make_client: Callable[..., AppClient], publisher: MemoryPublisher
) -> None:
    client = make_client(klaviyo_webhook_secret="klaviyo-secret-123456")
    body = json.dumps(
        {"metric": "Opened Email", "email": "k@example.com", "timestamp": 1759312800}
    ).encode()
    now = str(int(time.time()))
    good = klaviyo_headers(body, "klaviyo-secret-123456", now)
    stale = klaviyo_headers(body, "klaviyo-secret-123456", str(int(time.time()) - 3600))
    for headers, content in [
        ({}, body),
        (klaviyo_headers(body, "wrong-secret-0000000", now), body),
        (good, body.replace(b"Opened", b"Clicked")),
        (stale, body),
    ]:
        assert (
            client.post("/api/webhooks/klaviyo", content=content, headers=headers).status_code
            == 401
        )
    assert publisher.records == []
    response = client.post("/api/webhooks/klaviyo", content=body, headers=good)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert decode_event(publisher.records[0][1]).esp == "klaviyo"
    assert (
        b'sendflowr_connector_webhook_signature_failures_total{provider="klaviyo"} 4.0'
        in client.get("/metrics").content
    )


def test_sendgrid_webhook_signature_gate(
    make_client: Callable[..., AppClient], publisher: MemoryPublisher
) -> None:
    private, public = sendgrid_keypair()
    client = make_client(sendgrid_public_key=public)
    body = json.dumps(
        [{"event": "open", "email": "s@example.com", "timestamp": 1759312800}]
    ).encode()
    now = str(int(time.time()))
    assert client.post("/api/webhooks/sendgrid", content=body).status_code == 401
    assert (
        client.post(
            "/api/webhooks/sendgrid",
            content=body + b" ",
            headers=sendgrid_headers(body, private, now),
        ).status_code
        == 401
    )
    assert publisher.records == []
    ok = client.post(
        "/api/webhooks/sendgrid", content=body, headers=sendgrid_headers(body, private, now)
    )
    assert ok.status_code == 200 and ok.json()["accepted"] == 1


def test_unconfigured_webhooks_refuse(client: AppClient, publisher: MemoryPublisher) -> None:
    assert client.post("/api/webhooks/klaviyo", content=b"{}").status_code == 401
    assert client.post("/api/webhooks/sendgrid", content=b"[]").status_code == 401
    assert publisher.records == []


def test_metrics_count_accepted_rejected_published(client: AppClient) -> None:
    client.post("/api/events", content=json.dumps([event(0), event(1, event_type="x")]))
    text = client.get("/metrics").text
    assert "sendflowr_connector_events_accepted_total 1.0" in text
    assert 'sendflowr_connector_events_rejected_total{source="api"} 1.0' in text
    assert "sendflowr_connector_events_published_total 1.0" in text
    assert "sendflowr_connector_publish_latency_seconds_count 1.0" in text


def test_openapi_documents_every_endpoint(client: AppClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in [
        "/api/events",
        "/api/mock/events/synthetic",
        "/api/mock/events/generate",
        "/api/webhooks/klaviyo",
        "/api/webhooks/sendgrid",
        "/health",
        "/metrics",
    ]:
        assert path in schema["paths"]
    assert "IncomingEvent" in schema["components"]["schemas"]


class _DownStore:
    """An identity store whose database is unreachable."""

    def start(self) -> None: ...
    def stop(self) -> None: ...

    def resolve_many(self, key_sets: Any) -> Any:
        raise ServiceError("identity database unreachable")


def test_identity_store_down_is_503_not_500(tmp_path: Path, publisher: MemoryPublisher) -> None:
    resolver = IdentityResolver(_DownStore())  # type: ignore[arg-type]
    client = AppClient(create_app(Settings(home=tmp_path), publisher=publisher, resolver=resolver))
    try:
        response = client.post("/api/events", content=json.dumps([event(0)]), headers=JSON)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert publisher.records == []
    finally:
        client.close()
