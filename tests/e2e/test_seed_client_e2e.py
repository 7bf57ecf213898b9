"""The seed's own client, unmodified in shape, against ``sendflowr serve``: every event stored.

The client below is written the way the seed's ``scripts/generate-synthetic-data.py``
talks to its connector (our own code, its habits): it probes ``GET /scalar/v1`` for
liveness, sends one event per request to ``/api/mock/events/synthetic`` with naive
``datetime.isoformat()`` times of UTC instants, uses uuid4 event ids, sends hot-path and
circuit-breaker events with an empty ``recipient_email`` and only a ``recipient_id``, and
counts only HTTP 200 as success.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.test_generate_e2e import _cli, _settings, serve_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
__all__ = ["serve_env"]  # the fixture, imported for this module's tests

START = datetime(2025, 10, 1, tzinfo=UTC)


def _naive(at: datetime) -> str:
    # What the seed's datetime.isoformat() of a naive UTC datetime looks like.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


class SeedStyleClient:
    """The seed script's way of talking to the connector."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=5)

    def connector_available(self) -> bool:
        for attempt in range(5):
            try:
                if self.http.get(f"{self.url}/scalar/v1", timeout=3).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            if attempt < 4:
                time.sleep(2)
        return False

    def publish(self, event: dict[str, Any]) -> bool:
        try:
            response = self.http.post(f"{self.url}/api/mock/events/synthetic", json=event)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


def _seed_events(rng: random.Random, users: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for u in range(users):
        user_id, email = f"synth_user_{1000 + u:05d}", f"user{1000 + u}@example.com"
        for day in range(3):
            send = START + timedelta(days=day, hours=rng.randint(6, 22), minutes=rng.randint(0, 59))
            base = {
                "esp": "klaviyo", "recipient_id": user_id, "recipient_email": email,
                "campaign_id": "newsletter", "campaign_name": "Newsletter",
                "message_id": f"msg_{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}",
                "subject": "Newsletter - Special Offer",
                "metadata": {"persona": "morning_person", "test_data": True, "channel": "email"},
                "ingested_at": _naive(START + timedelta(days=100)),
            }  # fmt: skip
            latency = rng.randint(5, 60)
            steps = [("sent", send), ("delivered", send + timedelta(seconds=latency))]
            if rng.random() < 0.5:
                steps.append(("opened", send + timedelta(minutes=rng.randint(1, 120))))
            for kind, at in steps:
                event = {**base, "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                         "event_type": kind, "timestamp": _naive(at)}  # fmt: skip
                if kind == "delivered":
                    meta = {**base["metadata"], "latency_seconds": latency,
                            "send_time": _naive(send), "queue_depth_estimate": 500}  # fmt: skip
                    event["metadata"] = meta
                events.append(event)
        if u % 5 == 0:  # a hot path and a circuit breaker, identified by recipient_id only
            for kind in ("site_visit", "support_ticket"):
                events.append({
                    "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "event_type": kind,
                    "timestamp": _naive(START + timedelta(days=4, hours=u % 12)),
                    "esp": "internal", "recipient_id": user_id, "recipient_email": "",
                    "campaign_id": "hot_path" if kind == "site_visit" else "circuit_breaker",
                    "campaign_name": kind.replace("_", " ").title(), "message_id": "",
                    "subject": "", "metadata": {"test_data": True},
                    "ingested_at": _naive(START + timedelta(days=100)),
                })  # fmt: skip
    return events


def test_seed_style_client_lands_every_event(serve_env: dict[str, str]) -> None:
    from sendflowr.cli.up import wait_until_stored

    url = f"http://127.0.0.1:{serve_env['SENDFLOWR_CONNECTOR_PORT']}"
    client = SeedStyleClient(url)
    events = _seed_events(random.Random(12), users=40)
    assert len(events) >= 300
    try:
        assert client.connector_available()
        published = sum(client.publish(e) for e in events)
    finally:
        client.http.close()
    assert published == len(events)  # every single-event request answered 200

    wait_until_stored(_settings(serve_env), timeout=300)
    count = _cli(["sql", "--format", "csv",
                  "SELECT count(), countIf(universal_id LIKE 'sf_%'), uniqExact(event_id)"
                  " FROM sendflowr.email_events"], serve_env)  # fmt: skip
    assert count.returncode == 0, count.stderr
    total, with_uid, unique = map(int, count.stdout.splitlines()[1].split(","))
    assert total == with_uid == unique == len(events)

    # A naive time was read as UTC: the first event is stored at that instant.
    first = events[0]
    query = (
        "SELECT formatDateTime(timestamp, '%Y-%m-%dT%H:%i:%S', 'UTC')"  # noqa: S608
        f" FROM sendflowr.email_events WHERE event_id = '{first['event_id']}'"
    )
    at = _cli(["sql", "--format", "csv", query], serve_env)
    assert at.returncode == 0, at.stderr
    assert at.stdout.splitlines()[1].strip('"') == first["timestamp"]
