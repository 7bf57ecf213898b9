"""The connector against the real broker: what lands in Kafka, and no raw email anywhere."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sendflowr.connector import create_app
from sendflowr.events import decode_event
from sendflowr.identity import hash_email, universal_id_for
from sendflowr.settings import Settings
from tests.asgi import AppClient
from tests.integration.connector_support import read_topic

UID = re.compile(r"^sf_[0-9a-f]{16}$")
EMAILS = [f"Reader.{i}@Example.org" for i in range(40)]
JSON = {"content-type": "application/json"}


@pytest.fixture
def connector(kafka_settings: Settings, tmp_path: Path) -> Iterator[tuple[AppClient, Settings]]:
    settings = kafka_settings.model_copy(update={"home": tmp_path})
    client = AppClient(create_app(settings))
    yield client, settings
    client.close()


def test_batch_lands_hashed_and_keyed_by_universal_id(
    connector: tuple[AppClient, Settings],
) -> None:
    client, settings = connector
    assert client.get("/health").status_code == 200
    events = [
        {
            "event_type": "delivered",
            "timestamp": f"2025-10-01T10:{i % 60:02d}:00Z",
            "recipient_email": email,
            "event_id": f"evt-{i}",
            "latency_seconds": 12.5,
        }
        for i, email in enumerate(EMAILS)
    ]
    response = client.post("/api/events", content=json.dumps(events), headers=JSON)
    assert response.status_code == 200
    assert response.json() == {"accepted": len(EMAILS), "rejected": []}
    records = read_topic(settings.kafka_bootstrap_servers, settings.topic, len(EMAILS))
    assert len(records) == len(EMAILS)
    by_id = {
        decode_event(value).metadata["provider_event_id"]: (key, decode_event(value))
        for key, value in records
    }
    for i, email in enumerate(EMAILS):
        key, published = by_id[f"evt-{i}"]
        email_hash = hash_email(email)
        assert published.recipient_email_hash == email_hash
        assert UID.match(published.universal_id)
        assert published.universal_id == universal_id_for("email", email_hash)
        assert key == published.universal_id.encode()


def test_no_raw_email_in_kafka_logs_or_identity_store(
    connector: tuple[AppClient, Settings], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    client, settings = connector
    caplog.set_level(logging.DEBUG)
    secret = "Private.Person+tag@Example.com"
    events = [
        {
            "event_type": "clicked",
            "timestamp": "2025-10-01T10:00:00Z",
            "recipient_email": secret,
            "recipient_id": secret,
            "subject": f"Hello {secret}",
            "click_url": "https://shop.example.com/?who=private.person%2Btag%40example.com",
            "metadata": {"forwarded_to": "other.person@example.net", secret: True},
        },
        {"event_type": "bogus", "timestamp": "2025-10-01T10:00:00Z", "recipient_email": secret},
    ]
    response = client.post("/api/events", content=json.dumps(events), headers=JSON)
    assert response.json()["accepted"] == 1
    assert "private" not in response.text.lower()
    records = read_topic(settings.kafka_bootstrap_servers, settings.topic, 1)
    assert len(records) == 1
    needles = [b"private.person", b"other.person", b"%40example"]
    haystacks = {"kafka": b"".join(k + v for k, v in records), "logs": caplog.text.encode().lower()}
    for path in tmp_path.rglob("identity.sqlite3*"):
        haystacks[path.name] = path.read_bytes().lower()
    assert any(name.startswith("identity.sqlite3") for name in haystacks)
    for name, data in haystacks.items():
        for needle in needles:
            assert needle not in data.lower(), f"{needle!r} found in {name}"
    published = decode_event(records[0][1])
    assert published.recipient_email_hash == hash_email(secret)
    assert published.recipient_id == hash_email(secret)
