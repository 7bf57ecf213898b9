"""Request bodies → events or per-item rejections (field + reason)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sendflowr.connector.decode import decode_body, decode_one
from sendflowr.errors import BadBody, TooLarge, ValidationError


def event(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_type": "opened",
        "timestamp": "2025-10-01T10:00:00Z",
        "recipient_email": "ann@example.com",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_array_and_ndjson_decode_the_same_events() -> None:
    items = [event(), event(event_type="clicked")]
    as_array = decode_body(json.dumps(items).encode(), max_events=10)
    as_ndjson = decode_body("\n".join(json.dumps(i) for i in items).encode(), max_events=10)
    assert [e.event_type for _, e in as_array.events] == ["opened", "clicked"]
    assert [e for _, e in as_ndjson.events] == [e for _, e in as_array.events]
    assert not as_array.rejected


@pytest.mark.parametrize(
    ("item", "field", "reason_part"),
    [
        (event(event_type="teleported"), "event_type", "unknown event type"),
        (event(timestamp="yesterday"), "timestamp", "datetime"),
        (event(timestamp="2025-10-01T10:00:00"), "timestamp", "timezone"),
        (event(timestamp=None), "timestamp", "missing required field"),
        (event(event_type=None), "event_type", "missing required field"),
        (event(hour_of_day="ten"), "hour_of_day", "Expected"),
        (event(hour_of_day=24), "hour_of_day", "<= 23"),
        (event(subject="x" * 5000), "subject", "length <= 4096"),
        (event(campaign_id="c" * 300), "campaign_id", "length <= 256"),
        (event(channel="fax"), "channel", "unknown channel"),
        (event(recipient_email=None), "recipient_email", "no usable identity key"),
        (event(recipient_email="   "), "recipient_email", "no usable identity key"),
        (event(metadata={"blob": "x" * 20_000}), "metadata", "larger than"),
        (event(metadata=["not", "an", "object"]), "metadata", "Expected `object`"),
        ("just a string", "$", "Expected `object`"),
    ],
)
def test_each_bad_item_is_rejected_with_its_field(item: Any, field: str, reason_part: str) -> None:
    decoded = decode_body(json.dumps([event(), item]).encode(), max_events=10)
    assert [i for i, _ in decoded.events] == [0]
    assert len(decoded.rejected) == 1
    rejection = decoded.rejected[0]
    assert (rejection.index, rejection.field) == (1, field)
    assert reason_part in rejection.reason


@pytest.mark.parametrize("body", [b"[{", b"{not json}", b"", b"   ", b"[]", b"{}\n{"])
def test_malformed_bodies_are_bad_requests(body: bytes) -> None:
    with pytest.raises(BadBody):
        decode_body(body, max_events=10)


def test_too_many_events_is_too_large() -> None:
    with pytest.raises(TooLarge):
        decode_body(json.dumps([event()] * 11).encode(), max_events=10)
    with pytest.raises(TooLarge):
        decode_body("\n".join([json.dumps(event())] * 11).encode(), max_events=10)


def test_decode_one_raises_validation_errors_with_fields() -> None:
    with pytest.raises(ValidationError) as info:
        decode_one(json.dumps(event(event_type="nope")).encode())
    assert info.value.field == "event_type"
    with pytest.raises(BadBody):
        decode_one(b"{")
