"""Events may carry the recipient's IANA zone: validated, published, remembered per identity."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sendflowr.connector import MemoryPublisher
from sendflowr.connector.webhooks import map_klaviyo
from sendflowr.events import decode_event
from sendflowr.identity.sqlite import SqliteIdentityStore
from tests.asgi import AppClient


def _event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_type": "opened",
        "timestamp": "2025-10-01T10:00:00Z",
        "recipient_email": "tz@example.com",
    }
    base.update(overrides)
    return base


def _zone_of(home: Path, universal_id: str) -> str | None:
    store = SqliteIdentityStore(home / "identity.sqlite3")
    store.start()
    try:
        return store.zone_of(universal_id)
    finally:
        store.stop()


def test_a_zone_is_published_and_becomes_the_identitys_latest(
    client: AppClient, publisher: MemoryPublisher, tmp_path: Path
) -> None:
    items = [
        _event(timezone="Europe/Berlin", timestamp="2025-10-02T10:00:00Z"),
        _event(timezone="Asia/Kolkata", timestamp="2025-10-01T10:00:00Z"),  # older
        _event(),  # no zone: keeps what is known
    ]
    response = client.post("/api/events", content=json.dumps(items))
    assert response.json() == {"accepted": 3, "rejected": []}
    published = [decode_event(v) for _, v in publisher.records]
    assert [p.timezone for p in published] == ["Europe/Berlin", "Asia/Kolkata", ""]
    uid = published[0].universal_id
    assert _zone_of(tmp_path, uid) == "Europe/Berlin"
    # a newer observation replaces it, an older one never does
    client.post("/api/events", content=json.dumps([_event(timezone="Asia/Tokyo")]))
    assert _zone_of(tmp_path, uid) == "Europe/Berlin"
    later = _event(timezone="America/New_York", timestamp="2025-11-01T10:00:00Z")
    client.post("/api/events", content=json.dumps([later]))
    assert _zone_of(tmp_path, uid) == "America/New_York"


def test_an_unknown_zone_is_a_422_naming_it(client: AppClient, publisher: MemoryPublisher) -> None:
    response = client.post("/api/events", content=json.dumps([_event(timezone="Mars/Olympus")]))
    assert response.status_code == 422
    [rejected] = response.json()["rejected"]
    assert rejected["field"] == "timezone" and "Mars/Olympus" in rejected["reason"]
    assert publisher.records == []


def test_klaviyo_profile_location_time_zone_maps_to_the_event() -> None:
    def envelope(location: Any) -> bytes:
        profile = {"email": "k@example.com", "location": location}
        item = {
            "topic": "event:klaviyo.opened_email",
            "payload": {
                "data": {
                    "type": "event",
                    "id": "e1",
                    "attributes": {"datetime": "2025-10-01T10:00:00+00:00"},
                },
                "included": [
                    {"type": "profile", "attributes": profile},
                    {"type": "metric", "attributes": {"name": "Opened Email"}},
                ],
            },
        }
        return json.dumps({"data": [item]}).encode()

    [(_, event)] = map_klaviyo(envelope({"timezone": "America/Chicago", "city": "Chicago"})).events
    assert event.timezone == "America/Chicago"
    for location in ({"timezone": "Not/AZone"}, None, "somewhere"):
        [(_, event)] = map_klaviyo(envelope(location)).events
        assert event.timezone == ""
