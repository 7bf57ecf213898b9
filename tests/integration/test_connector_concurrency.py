"""Two connector processes × 16 concurrent requests resolving the same 500 new emails
give exactly 500 universal ids — with the SQLite store and with PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg
import pytest

from sendflowr.events import decode_event
from sendflowr.identity import hash_email, universal_id_for
from tests.conftest import free_port
from tests.integration.connector_support import connector_process, postgres_schema, read_topic

EMAILS = [f"new.person.{i}@example.com" for i in range(500)]
REQUESTS_PER_PROCESS = 16


@pytest.fixture(params=["sqlite", "postgres"])
def identity_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    with postgres_schema() as url:
        yield url


async def _post_all(bases: list[str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(timeout=120) as client:
        calls = []
        for p, base in enumerate(bases):
            for r in range(REQUESTS_PER_PROCESS):
                order = EMAILS[:]
                random.Random(p * 100 + r).shuffle(order)
                body = [
                    {
                        "event_type": "sent",
                        "timestamp": "2025-10-01T10:00:00Z",
                        "recipient_email": email,
                        "event_id": f"p{p}-r{r}-{i}",
                    }
                    for i, email in enumerate(order)
                ]
                headers = {"content-type": "application/json"}
                calls.append(
                    client.post(f"{base}/api/events", content=json.dumps(body), headers=headers)
                )
        return list(await asyncio.gather(*calls))


def test_two_processes_agree_on_one_id_per_email(
    tmp_path: Path, kafka_bootstrap: str, topic: str, identity_url: str | None
) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "SENDFLOWR_TOPIC": topic}
    if identity_url:
        env["SENDFLOWR_IDENTITY_URL"] = identity_url
    with ExitStack() as stack:
        bases = [
            stack.enter_context(connector_process(tmp_path, free_port(), env)) for _ in range(2)
        ]
        responses = asyncio.run(_post_all(bases))
    assert [r.status_code for r in responses] == [200] * len(responses)
    assert all(r.json()["accepted"] == len(EMAILS) for r in responses)

    total = 2 * REQUESTS_PER_PROCESS * len(EMAILS)
    records = read_topic(kafka_bootstrap, topic, total)
    ids_by_hash: dict[str, set[str]] = {}
    for key, value in records:
        event = decode_event(value)
        assert key == event.universal_id.encode()
        ids_by_hash.setdefault(event.recipient_email_hash, set()).add(event.universal_id)
    expected = {hash_email(e): universal_id_for("email", hash_email(e)) for e in EMAILS}
    assert {h: {uid} for h, uid in expected.items()} == ids_by_hash
    assert len({uid for ids in ids_by_hash.values() for uid in ids}) == len(EMAILS)

    query = (
        "SELECT count(*), count(DISTINCT universal_id) FROM identity_links WHERE key_type = 'email'"
    )
    if identity_url:
        with psycopg.connect(identity_url) as conn:
            row = conn.execute(query).fetchone()
    else:
        with sqlite3.connect(tmp_path / "identity.sqlite3") as conn:
            row = conn.execute(query).fetchone()
    assert row == (len(EMAILS), len(EMAILS))
    logs = b"".join(path.read_bytes() for path in tmp_path.glob("connector-*.log"))
    assert b"new.person" not in logs and b"@example.com" not in logs
