"""A yes that is kept, on the real broker and chDB: what the connector acknowledges is
stored (once, also when replayed), what it refuses never reaches Kafka, and no address
reaches Kafka or ClickHouse."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pydantic import SecretStr

from sendflowr.connector import create_app
from sendflowr.contract import MAX_METADATA_DEPTH
from sendflowr.events import decode_event, encode_event
from sendflowr.identity import hash_email
from sendflowr.settings import Settings
from sendflowr.sink import SinkConsumer
from sendflowr.store import ClickHouseStore
from tests.asgi import AppClient
from tests.integration.connector_support import read_topic
from tests.integration.sink_support import lag, produce, read_dlq, wait_for
from tests.unit.connector.esp_examples import SENDGRID_EXAMPLE, SENDGRID_MODELLED, klaviyo_system
from tests.unit.connector.signing import klaviyo_headers, sendgrid_hmac_headers
from tests.unit.sink.factory import make_events

SENDGRID_SECRET = "sendgrid-secret-0123456789"
KLAVIYO_SECRET = "klaviyo-secret-0123456789"
JSON = {"content-type": "application/json"}
LEAKS = ["josé@example.com", "leak@exämple.com", "ñame@correo.es", "leak@localhost"]


@pytest.fixture
def stack(
    kafka_settings: Settings, tmp_path: Path
) -> Iterator[tuple[AppClient, ClickHouseStore, Settings]]:
    """A connector (identity store in ``tmp_path``, both webhooks configured) and the
    session's chDB store with a database of this test's own."""
    connector_settings = kafka_settings.model_copy(
        update={
            "home": tmp_path,
            "sendgrid_webhook_secret": SecretStr(SENDGRID_SECRET),
            "klaviyo_webhook_secret": SecretStr(KLAVIYO_SECRET),
        }
    )
    store = ClickHouseStore(kafka_settings)
    store.start()
    client = AppClient(create_app(connector_settings))
    try:
        yield client, store, kafka_settings
    finally:
        client.close()
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.stop()


def _drain(settings: Settings, store: ClickHouseStore, produced: int) -> SinkConsumer:
    sink = SinkConsumer(settings, store)
    sink.start()
    try:
        wait_for(
            lambda: (
                sink.stats.stored + sink.stats.duplicates + sink.stats.dead_letters >= produced
                and lag(settings) == 0
            ),
            120,
            "the sink to catch up",
        )
    finally:
        sink.stop()
    return sink


def _rows(store: ClickHouseStore) -> list[tuple[Any, ...]]:
    sql = f"SELECT * FROM {store.events_table} ORDER BY timestamp, event_id"  # noqa: S608
    return [tuple(row) for row in store.query(sql).rows]


def _signed_sendgrid(client: AppClient, body: bytes) -> Any:
    headers = {**JSON, **sendgrid_hmac_headers(body, SENDGRID_SECRET, str(int(time.time())))}
    return client.post("/api/webhooks/sendgrid", content=body, headers=headers)


def _signed_klaviyo(client: AppClient, body: bytes) -> Any:
    headers = {**JSON, **klaviyo_headers(body, KLAVIYO_SECRET, str(int(time.time())))}
    return client.post("/api/webhooks/klaviyo", content=body, headers=headers)


def test_esp_ids_are_stored_and_replays_stored_once(
    stack: tuple[AppClient, ClickHouseStore, Settings],
) -> None:
    client, store, settings = stack
    sendgrid = json.dumps(SENDGRID_EXAMPLE).encode()
    ulid = "01HQZ8X4K2M3N5P7R9T1V3W5Y7"
    klaviyo = json.dumps(klaviyo_system(ulid, "Klaviyo.Reader@Example.com")).encode()
    short = json.dumps(klaviyo_system("4hXk2", "short.id@example.com")).encode()
    no_id = json.dumps(
        [{"event": "open", "email": "replayed@example.com", "timestamp": 1759312800}]
    ).encode()
    for _replay in range(2):
        answer = _signed_sendgrid(client, sendgrid)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == SENDGRID_MODELLED
        assert answer.json()["rejected"] == []
        for body in (klaviyo, short):
            assert _signed_klaviyo(client, body).json()["accepted"] == 1
        assert _signed_sendgrid(client, no_id).json()["accepted"] == 1
    published = 2 * (SENDGRID_MODELLED + 3)
    sink = _drain(settings, store, published)
    assert sink.stats.dead_letters == 0
    assert read_dlq(settings, 0, timeout=3) == []
    expected = SENDGRID_MODELLED + 3
    assert sink.stats.stored == expected
    count, unique = store.query(
        f"SELECT count(), uniqExact(event_id) FROM {store.events_table}"  # noqa: S608
    ).rows[0]
    assert (count, unique) == (expected, expected)
    rows = store.query(
        f"SELECT esp, JSONExtractString(metadata, 'provider_event_id'), recipient_email_hash "  # noqa: S608
        f"FROM {store.events_table}"
    ).rows
    assert len(rows) == expected
    provider_ids = {row[1] for row in rows}
    assert {item["sg_event_id"] for item in SENDGRID_EXAMPLE[:1]} <= provider_ids
    assert {ulid, "4hXk2"} <= provider_ids
    hashes = {row[2] for row in rows if row[0] == "klaviyo"}
    assert hashes == {hash_email("klaviyo.reader@example.com"), hash_email("short.id@example.com")}
    assert all(row[2] for row in rows)


def test_each_leak_is_scrubbed_or_refused_in_kafka_and_clickhouse(
    stack: tuple[AppClient, ClickHouseStore, Settings],
) -> None:
    client, store, settings = stack
    base = {"event_type": "opened", "timestamp": "2025-10-01T10:00:00Z"}
    fields = ["campaign_id", "esp", "bounce_type", "campaign_type", "ip_address", "event_id"]
    refused = [
        {**base, "recipient_email": f"r{i}@example.com", field: LEAKS[i % len(LEAKS)]}
        for i, field in enumerate(fields)
    ]
    scrubbed = {
        **base,
        "recipient_email": "Scrubbed.Person@Example.com",
        "recipient_id": LEAKS[3],
        "subject": "Hi " + " and ".join(LEAKS),
        "campaign_name": LEAKS[0],
        "user_agent": LEAKS[1],
        "click_url": "https://shop.example.com/?u=" + LEAKS[2].replace("@", "%40"),
        "metadata": {"note": LEAKS[3], LEAKS[0]: [{"deep": LEAKS[1]}]},
    }
    response = client.post("/api/events", content=json.dumps([*refused, scrubbed]), headers=JSON)
    assert response.status_code == 200
    assert [r["field"] for r in response.json()["rejected"]] == fields
    assert response.json()["accepted"] == 1
    records = read_topic(settings.kafka_bootstrap_servers, settings.topic, 1)
    assert len(records) == 1
    _drain(settings, store, 1)
    rows = _rows(store)
    assert len(rows) == 1
    haystacks = {"kafka": records[0][1].decode(), "clickhouse": repr(rows)}
    for where, text in haystacks.items():
        for leak in LEAKS:
            assert leak not in text, (leak, where)
            assert leak.split("@")[0] not in text, (leak, where)
        assert "scrubbed.person" not in text.lower(), where
    assert decode_event(records[0][1]).recipient_id == hash_email(LEAKS[3])


def test_records_beyond_the_contracts_bounds_are_dead_letters_and_the_rest_flows(
    stack: tuple[AppClient, ClickHouseStore, Settings],
) -> None:
    _, store, settings = stack
    good = make_events(4, seed=5)
    deep_event = msgspec.structs.replace(good[0], event_id=make_events(5, seed=6)[4].event_id)
    too_deep: Any = 1
    for _ in range(MAX_METADATA_DEPTH + 1):
        too_deep = {"a": too_deep}
    poison = [
        encode_event(msgspec.structs.replace(deep_event, metadata=too_deep)),
        encode_event(deep_event)[:-1]
        + b',"metadata":'
        + b'{"a":' * 3000
        + b"1"
        + b"}" * 3000
        + b"}",
    ]
    records = [(e.universal_id.encode(), encode_event(e)) for e in good]
    records[2:2] = [(b"poison", value) for value in poison]
    assert produce(settings, records) == len(records)
    sink = _drain(settings, store, len(records))
    assert sink.stats.stored == len(good) and sink.stats.dead_letters == len(poison)
    dead = read_dlq(settings, len(poison))
    reasons = sorted(dict(m.headers())["sendflowr.dlq.reason"].decode() for m in dead)
    assert reasons == ["schema_invalid", "schema_invalid"]
    details = [dict(m.headers())["sendflowr.dlq.detail"].decode() for m in dead]
    assert all("deeper than" in d or "depth" in d or "recursion" in d for d in details), details
