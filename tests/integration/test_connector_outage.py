"""The broker stops mid-load: requests get 503 + Retry-After, no 2xx for an event Kafka
does not hold, and every resent event arrives once the broker is back."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from sendflowr.connector import create_app
from sendflowr.events import decode_event
from sendflowr.kafka import LocalKafka
from sendflowr.settings import Settings
from tests.conftest import free_port
from tests.integration.connector_support import read_topic

BATCH = 50
JSON = {"content-type": "application/json"}


def batch(n: int) -> list[dict[str, object]]:
    return [
        {
            "event_type": "opened",
            "timestamp": "2025-10-01T10:00:00Z",
            "recipient_email": f"load.{n}.{i}@example.com",
            "event_id": f"b{n}-{i}",
        }
        for i in range(BATCH)
    ]


async def scenario(settings: Settings, broker: LocalKafka) -> tuple[set[str], set[str], list[int]]:
    app = create_app(settings)
    acked: set[str] = set()
    failed: list[int] = []
    statuses: list[int] = []
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://c", timeout=60) as c:

            async def send(n: int) -> httpx.Response:
                return await c.post("/api/events", content=json.dumps(batch(n)), headers=JSON)

            n = 0
            stopper: asyncio.Task[bool] | None = None
            while True:
                response = await send(n)
                statuses.append(response.status_code)
                if response.status_code == 200:
                    assert response.json()["accepted"] == BATCH
                    acked.update(f"b{n}-{i}" for i in range(BATCH))
                else:
                    assert response.status_code == 503
                    assert int(response.headers["retry-after"]) >= 1
                    failed.append(n)
                n += 1
                if n == 5:
                    stopper = asyncio.create_task(asyncio.to_thread(broker.stop))
                if len(failed) >= 3:
                    break
                assert n < 200, "the broker stop never produced a 503"
            assert stopper is not None
            await stopper
            assert (await c.get("/health")).status_code == 503
            await asyncio.to_thread(broker.start)
            for m in failed:
                for _attempt in range(30):
                    response = await send(m)
                    if response.status_code == 200:
                        acked.update(f"b{m}-{i}" for i in range(BATCH))
                        break
                    await asyncio.sleep(1)
                else:
                    raise AssertionError(f"batch {m} never got through after the restart")
    sent = {f"b{m}-{i}" for m in range(n) for i in range(BATCH)}
    return acked, sent, statuses


def test_broker_outage_gives_503_and_resent_events_all_arrive(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        kafka_port=free_port(),
        kafka_controller_port=free_port(),
        connector_publish_timeout_ms=3000,
    )
    broker = LocalKafka(settings)
    broker.start()
    try:
        settings = settings.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap})
        acked, sent, statuses = asyncio.run(scenario(settings, broker))
        assert 503 in statuses and statuses[0] == 200
        assert acked == sent
        records = read_topic(broker.bootstrap, settings.topic, len(sent))
        # The sender's ids ("b0-1") travel as provider_event_id beside the UUID made of them.
        in_kafka = {decode_event(value).metadata["provider_event_id"] for _, value in records}
        # Every acknowledged event is in Kafka (duplicates from resends are allowed).
        assert sent <= in_kafka
    finally:
        broker.stop()
