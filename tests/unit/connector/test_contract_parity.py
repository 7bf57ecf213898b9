"""Seeded fuzz of the connector's door: valid-looking events with random faults.

Whatever the connector answers, it is never a 5xx; every event it acknowledges is one
the sink's decoder stores (no dead letter), and no planted address survives in what
it publishes.
"""

from __future__ import annotations

import json
import random
from typing import Any
from uuid import UUID

import pytest

from sendflowr.connector import MemoryPublisher
from sendflowr.sink.records import decode_records
from tests.asgi import AppClient

LEAKS = ["josé@example.com", "leak@exämple.com", "ñame@correo.es", "leak@localhost"]
_TIMES = [
    "2025-10-01T10:00:00Z",
    "2025-10-01T10:00:00.123456+02:00",
    "1900-01-01T00:30:00+01:00",  # 1899 in UTC
    "1900-01-01T00:30:00-01:00",
    "2299-12-31T23:30:00-01:00",  # 2300 in UTC
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "2025-10-01T10:00:00",  # no zone
    1759312800,
    "yesterday",
]
_COUNTS = [0, 1149, 2**32 - 1, 2**32, -1, 2**64, 1.5, "12"]
_TEXTS = ["newsletter", "Ünïcödé ✓", "x" * 300, "@handle", "a,b;c", "", *LEAKS]
_IDS = [
    None,
    "0199a3ba-4e40-7722-91cb-61148a4b657a",
    "0199A3BA-4E40-7722-91CB-61148A4B657A",
    "rbtnWrG1DVDGGGFHFyun0A==",
    "01HQZ8X4K2M3N5P7R9T1V3W5Y7",
    "4hXk2",
    "y" * 300,
    *LEAKS,
]


def _nested(rng: random.Random, depth: int) -> Any:
    value: Any = rng.choice([1, "text", rng.choice(LEAKS), None, 2.5, True])
    for _ in range(depth):
        value = {rng.choice(["a", rng.choice(LEAKS)]): value} if rng.random() < 0.6 else [value]
    return value


def _event(rng: random.Random, i: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_type": "teleported" if rng.random() < 0.03 else rng.choice(["opened", "sent"]),
        "timestamp": rng.choice(_TIMES) if rng.random() < 0.15 else _TIMES[rng.randrange(2)],
        "recipient_email": "no-at-sign" if rng.random() < 0.03 else f"User{i}@Example.com",
    }
    for field in ("campaign_id", "esp", "bounce_type", "campaign_type", "message_id"):
        if rng.random() < 0.05:
            event[field] = rng.choice(_TEXTS)
    for field in ("subject", "campaign_name", "user_agent", "click_url"):
        if rng.random() < 0.3:
            event[field] = " ".join(rng.sample(_TEXTS, 2))
    for field in ("payload_size_bytes", "queue_depth_estimate"):
        if rng.random() < 0.1:
            event[field] = rng.choice(_COUNTS)
    if rng.random() < 0.1:
        event["send_time"] = rng.choice(_TIMES)
    if rng.random() < 0.4:
        event["event_id"] = rng.choice(_IDS)
    if rng.random() < 0.3:
        event["recipient_id"] = rng.choice(["r1", *LEAKS])
    if rng.random() < 0.5:
        event["metadata"] = {"deep": _nested(rng, rng.choice([0, 1, 2, 3, 8, 30, 31, 33, 40]))}
    if rng.random() < 0.05:
        event["metadata"] = {"blob": "z" * rng.choice([1_000, 20_000])}
    return {k: v for k, v in event.items() if v is not None}


class _Record:
    def __init__(self, value: bytes, offset: int) -> None:
        self._value, self._offset = value, offset

    def topic(self) -> str:
        return "email-events"

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"k"

    def value(self) -> bytes:
        return self._value


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_what_the_connector_acknowledges_the_sink_stores(
    client: AppClient, publisher: MemoryPublisher, seed: int
) -> None:
    rng = random.Random(seed)
    statuses: list[int] = []
    acknowledged = 0
    for batch in range(6):
        items = [_event(rng, batch * 50 + i) for i in range(50)]
        ndjson = batch % 2 == 1
        body = "\n".join(json.dumps(i) for i in items) if ndjson else json.dumps(items)
        headers = {"content-type": "application/x-ndjson" if ndjson else "application/json"}
        response = client.post("/api/events", content=body.encode(), headers=headers)
        statuses.append(response.status_code)
        assert response.status_code in (200, 422), response.text
        answer = response.json()
        assert answer["accepted"] + len(answer["rejected"]) == len(items)
        acknowledged += answer["accepted"]
        for rejection in answer["rejected"]:
            assert not any(leak in rejection["reason"] for leak in LEAKS)
    assert acknowledged == len(publisher.records) >= 60  # both verdicts are exercised
    records = [_Record(value, n) for n, (_, value) in enumerate(publisher.records)]
    decoded = decode_records(records)
    assert decoded.dead == [], decoded.dead[:1]
    assert len(decoded.events) == acknowledged
    for _, value in publisher.records:
        text = value.decode()
        for leak in LEAKS:
            assert leak not in text and leak.split("@")[0] not in text, (leak, text[:300])
    for event in decoded.events:
        assert str(UUID(event.event_id)) == event.event_id
