"""The connector app over an in-memory publisher: status codes, bodies, access, privacy."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
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
from tests.unit.connector.signing import (
    klaviyo_headers,
    sendgrid_headers,
    sendgrid_hmac_headers,
    sendgrid_keypair,
)

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


def test_mock_endpoints_are_off_by_default(tmp_path: Path, publisher: MemoryPublisher) -> None:
    assert Settings(home=tmp_path).mock_endpoints is False
    client = AppClient(create_app(Settings(home=tmp_path), publisher=publisher))
    try:
        assert client.post("/api/mock/events/generate").status_code == 404
        synthetic = client.post("/api/mock/events/synthetic", json=event(0))
        assert synthetic.status_code == 404
        assert "/api/mock/events/synthetic" not in client.get("/openapi.json").json()["paths"]
    finally:
        client.close()


@pytest.mark.parametrize(
    "headers",
    [{}, {"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}],
)
@pytest.mark.parametrize("path", ["/api/events", "/api/mock/events/synthetic"])
def test_bodies_that_are_not_json_are_415(
    client: AppClient, publisher: MemoryPublisher, headers: dict[str, str], path: str
) -> None:
    body = json.dumps(event(0)).encode()
    client.client.headers.pop("content-type", None)
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 415
    assert response.json()["field"] == "Content-Type"
    assert publisher.records == []


def test_bad_input_is_4xx_never_500(client: AppClient, publisher: MemoryPublisher) -> None:
    deep = json.dumps(event(0))[:-1] + ', "metadata": ' + "[" * 5000 + "]" * 5000 + "}"
    for body in (deep, f"[{deep}]"):
        response = client.post("/api/events", content=body)
        assert response.status_code == 422, response.text
        assert response.json()["rejected"][0]["field"] == "metadata"
    bad_time = client.post(
        "/api/events",
        content=json.dumps([event(0), event(1, timestamp="0001-01-01T00:00:00+05:00")]),
    )
    assert bad_time.status_code == 200
    assert bad_time.json() == {
        "accepted": 1,
        "rejected": [{"index": 1, "field": "timestamp", "reason": ANY_TEXT}],
    }
    for seed in ("-1", str(2**64), "x"):
        response = client.post("/api/mock/events/generate", params={"count": 3, "seed": seed})
        assert response.status_code == 422, seed
    deep_synthetic = client.post("/api/mock/events/synthetic", content=deep)
    assert deep_synthetic.status_code == 422
    assert len(publisher.records) == 1


def test_leaking_ids_are_refused_and_free_text_scrubbed(
    client: AppClient, publisher: MemoryPublisher
) -> None:
    leaks = ["josé@example.com", "leak@exämple.com", "ñame@correo.es", "leak@localhost"]
    refused = [
        event(i, **{field: leak})
        for i, (field, leak) in enumerate(
            zip(["campaign_id", "esp", "bounce_type", "campaign_type"], leaks, strict=True)
        )
    ]
    scrubbed = event(
        9,
        subject=" ".join(leaks),
        campaign_name=leaks[0],
        user_agent=leaks[1],
        click_url=f"https://x.io/?u={leaks[2]}",
        metadata={"note": leaks[3], leaks[0]: [{"deep": leaks[1]}]},
        recipient_id=leaks[3],
    )
    response = client.post("/api/events", content=json.dumps([*refused, scrubbed]))
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 1
    assert [r["field"] for r in answer["rejected"]] == [
        "campaign_id",
        "esp",
        "bounce_type",
        "campaign_type",
    ]
    [(_, value)] = publisher.records
    text = value.decode()
    for leak in leaks:
        assert leak not in text and leak.split("@")[0] not in text
    assert "@" not in text


def test_the_seed_clients_naive_timestamps_are_utc_on_the_synthetic_endpoint(
    make_client: Callable[..., AppClient], publisher: MemoryPublisher
) -> None:
    naive = event(3, timestamp="2025-10-01T09:02:00")
    client = make_client()
    assert client.post("/api/events", content=json.dumps([naive])).status_code == 422
    response = client.post("/api/mock/events/synthetic", content=json.dumps(naive))
    assert response.status_code == 200
    assert decode_event(publisher.records[0][1]).timestamp == datetime(
        2025, 10, 1, 9, 2, tzinfo=UTC
    )
    strict = make_client(connector_strict_timestamps=True)
    refused = strict.post("/api/mock/events/synthetic", content=json.dumps(naive))
    assert refused.status_code == 422 and refused.json()["field"] == "timestamp"


def test_a_sendgrid_batch_degrades_per_item_and_replays_store_once(
    make_client: Callable[..., AppClient], publisher: MemoryPublisher
) -> None:
    secret = "sendgrid-secret-0123456789"
    client = make_client(sendgrid_webhook_secret=secret)
    items = [
        {"event": "open", "email": "a@example.com", "timestamp": 1759312800},
        {
            "event": "open",
            "email": "b@example.com",
            "timestamp": 1759312800,
            "arg": "x" * 2_000_000,
        },
        {"event": "open", "timestamp": 1759312800},
        {"event": "click", "email": "c@example.com", "timestamp": 1e20},
    ]
    body = json.dumps(items).encode()
    now = str(int(time.time()))
    response = client.post(
        "/api/webhooks/sendgrid", content=body, headers=sendgrid_hmac_headers(body, secret, now)
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 1
    assert [(r["index"], r["field"]) for r in answer["rejected"]] == [
        (1, "metadata"),
        (2, "recipient_email"),
        (3, "timestamp"),
    ]
    again = client.post(
        "/api/webhooks/sendgrid", content=body, headers=sendgrid_hmac_headers(body, secret, now)
    )
    assert again.json()["accepted"] == 1
    first, second = (decode_event(value) for _, value in publisher.records)
    # No sg_event_id: the id comes from the content, so the sink stores the replay once.
    assert first.event_id == second.event_id


class _AnyText:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)


ANY_TEXT = _AnyText()
