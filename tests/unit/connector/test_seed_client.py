"""What the seed's own client needs from the connector: its liveness page, naive UTC times on
the single-event endpoint, HTTP 200 for success."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sendflowr.connector import MemoryPublisher
from sendflowr.connector.decode import decode_one
from sendflowr.errors import ValidationError
from sendflowr.events import decode_event
from tests.asgi import AppClient

SEED_EVENT = {
    "event_id": "0192a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
    "event_type": "delivered",
    "timestamp": "2025-10-01T09:02:00",
    "esp": "klaviyo",
    "recipient_id": "synth_user_01000",
    "recipient_email": "user1000@example.com",
    "campaign_id": "newsletter",
    "campaign_name": "Newsletter",
    "message_id": "msg_0123456789ab",
    "subject": "Newsletter - Special Offer",
    "metadata": {
        "persona": "morning_person",
        "test_data": True,
        "channel": "email",
        "send_time": "2025-10-01T09:01:48",
        "latency_seconds": 12,
    },  # fmt: skip
    "ingested_at": "2026-01-10T12:00:00.123456",
}


@pytest.mark.parametrize("path", ["/scalar", "/scalar/v1"])
def test_reference_page_answers_200(client: AppClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/openapi.json" in page.text


def test_seed_event_with_naive_times_is_200_and_read_as_utc(
    client: AppClient, publisher: MemoryPublisher
) -> None:
    r = client.post("/api/mock/events/synthetic", json=SEED_EVENT)
    assert r.status_code == 200, r.text
    stored = decode_event(publisher.records[-1][1])
    assert stored.timestamp == datetime(2025, 10, 1, 9, 2, tzinfo=UTC)
    assert stored.event_id == SEED_EVENT["event_id"]


def test_seed_hot_path_event_without_email_is_accepted(client: AppClient) -> None:
    hot = {**SEED_EVENT, "event_type": "site_visit", "recipient_email": "", "message_id": ""}
    assert client.post("/api/mock/events/synthetic", json=hot).status_code == 200


def test_naive_reading_keeps_offsets_and_refuses_garbage() -> None:
    aware = decode_one(
        json.dumps({**SEED_EVENT, "timestamp": "2025-10-01T09:02:00+02:00"}).encode(),
        naive_utc=True,
    )
    assert aware.timestamp == datetime(2025, 10, 1, 7, 2, tzinfo=UTC)
    seed = decode_one(
        json.dumps({**SEED_EVENT, "send_time": "2025-10-01T09:01:48"}).encode(), naive_utc=True
    )
    assert seed.send_time == datetime(2025, 10, 1, 9, 1, 48, tzinfo=UTC)
    with pytest.raises(ValidationError) as bad:
        decode_one(json.dumps({**SEED_EVENT, "timestamp": "yesterday"}).encode(), naive_utc=True)
    assert bad.value.field == "timestamp"
    # The batch path stays strict.
    with pytest.raises(ValidationError):
        decode_one(json.dumps(SEED_EVENT).encode())


def test_batch_endpoint_rejection_carries_the_envelope(client: AppClient) -> None:
    bad = {**SEED_EVENT, "timestamp": "2025-10-01T09:02:00Z", "event_type": "nope"}
    r = client.post("/api/events", json=[bad])
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid" and body["field"] == "event_type"
    assert body["accepted"] == 0 and body["rejected"][0]["index"] == 0
