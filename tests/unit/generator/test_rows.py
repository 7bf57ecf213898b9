"""Rows and Arrow tables: valid events, canonical form without addresses, same values."""

from __future__ import annotations

from datetime import date

import msgspec
import orjson

from sendflowr.events import CanonicalEvent, IncomingEvent
from sendflowr.generator import generate_arrow, model_for, sample_events
from sendflowr.generator.rows import canonical_rows, incoming_rows
from sendflowr.generator.run import Plan, generate_blocks
from sendflowr.identity import hash_email, universal_id_for
from sendflowr.store.schema import EVENT_COLUMN_NAMES


def _block():  # type: ignore[no-untyped-def]
    model = model_for(None)
    return model, next(
        generate_blocks(Plan(model, 2, date(2025, 10, 1), date(2025, 12, 1), users=9))
    )[0]


def test_incoming_rows_are_valid_incoming_events_with_raw_address() -> None:
    model, block = _block()
    events = msgspec.json.decode(
        orjson.dumps(incoming_rows(model, block)), type=list[IncomingEvent]
    )
    assert all(e.recipient_email.endswith("@example.test") for e in events)
    assert all(e.event_id for e in events)


def test_canonical_rows_carry_hash_and_connector_universal_id() -> None:
    model, block = _block()
    rows = canonical_rows(model, block)
    assert b"@" not in orjson.dumps(rows)
    events = msgspec.json.decode(orjson.dumps(rows), type=list[CanonicalEvent])
    first = events[0]
    digest = hash_email("user0000@example.test")
    assert first.recipient_email_hash == digest
    assert first.universal_id == universal_id_for("email", digest)


def test_metadata_and_latency_training_fields() -> None:
    model, block = _block()
    for row in canonical_rows(model, block):
        meta = row["metadata"]
        assert {"persona", "channel", "provider"} <= set(meta)
        assert meta["channel"] == row["channel"]
        if row["event_type"] == "delivered":
            for field in (
                "latency_seconds",
                "send_time",
                "hour_of_day",
                "minute",
                "day_of_week",
                "campaign_type",
                "payload_size_bytes",
                "queue_depth_estimate",
            ):
                assert field in row, field
        if row["event_type"] in ("site_visit", "product_view", "sms_click"):
            assert meta["hot_path"] is True
        if row["event_type"] in ("support_ticket", "complaint", "unsubscribe_request"):
            assert meta["circuit_breaker"] is True


def test_arrow_table_has_the_store_columns_and_the_same_values() -> None:
    model, block = _block()
    table = generate_arrow(seed=2, users=9, end=date(2025, 12, 1))
    assert set(table.column_names) <= set(EVENT_COLUMN_NAMES)
    rows = canonical_rows(model, block)
    arrow_rows = table.to_pylist()
    assert len(arrow_rows) == len(rows)
    for a, r in list(zip(arrow_rows, rows, strict=True))[:300]:
        assert a["event_id"] == r["event_id"]
        assert a["event_type"] == r["event_type"]
        assert a["universal_id"] == r["universal_id"]
        assert orjson.loads(a["metadata"]) == r["metadata"]
        assert a["latency_seconds"] == r.get("latency_seconds")
        assert a["message_id"] == r.get("message_id", "")


def test_sample_events_are_reproducible_and_counted() -> None:
    one = sample_events(300, seed=5)
    assert len(one) == 300 and one == sample_events(300, seed=5)
    assert one != sample_events(300, seed=6)
    assert len({e.metadata["persona"] for e in one}) >= 2  # users interleave personas
