"""Request bodies → events or per-item rejections (field + reason)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sendflowr.connector.decode import (
    check_content_type,
    decode_body,
    decode_one,
    split_array,
)
from sendflowr.errors import BadBody, TooLarge, UnsupportedMediaType, ValidationError


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


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
        (event(timestamp="0001-01-01T00:00:00+05:00"), "timestamp", "1900-2299"),
        (event(send_time="2300-01-01T00:00:00Z"), "send_time", "1900-2299"),
        (event(payload_size_bytes=2**32), "payload_size_bytes", "4294967295"),
        (event(queue_depth_estimate=-1), "queue_depth_estimate", ">= 0"),
        (event(metadata=nested(33)), "metadata", "deeper than 32"),
        (event(metadata={"a": [{"b": "leak@x.io"}] * 2000}), "metadata", "larger than"),
        (event(campaign_id="leak@exämple.com"), "campaign_id", "looks like an email"),
        (event(esp="josé@example.com"), "esp", "looks like an email"),
        (event(bounce_type="leak@localhost"), "bounce_type", "looks like an email"),
        (event(campaign_type="x ñame@b.io"), "campaign_type", "looks like an email"),
        (event(ip_address="a@b.co"), "ip_address", "looks like an email"),
        (event(event_id="a%40b.co"), "event_id", "looks like an email"),
    ],
)
def test_each_bad_item_is_rejected_with_its_field(item: Any, field: str, reason_part: str) -> None:
    items = [event(), item, event()]
    # The same verdict as a JSON array and as NDJSON, and the neighbours go on.
    for body in (json.dumps(items), "\n".join(json.dumps(i) for i in items)):
        decoded = decode_body(body.encode(), max_events=10)
        assert [i for i, _ in decoded.events] == [0, 2]
        assert len(decoded.rejected) == 1
        rejection = decoded.rejected[0]
        assert (rejection.index, rejection.field) == (1, field)
        assert reason_part in rejection.reason
        assert "@" not in rejection.reason


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


def test_split_array_finds_items_without_recursion() -> None:
    tricky = {"s": 'a "quoted" ] , } [ { text', "n": [1, {"x": [2]}]}
    body = json.dumps([tricky, 7, "x", [[[]]]]).encode()
    assert [json.loads(item) for item in split_array(body)] == [tricky, 7, "x", [[[]]]]
    assert split_array(b"[]") == []
    for bad in (b"[1, 2", b"{}", b"[1] 2"):
        with pytest.raises(BadBody):
            split_array(bad)


def test_naive_timestamps_are_utc_only_when_asked() -> None:
    naive = json.dumps(event(timestamp="2025-10-01T09:02:00", send_time="2025-10-01T09:00:00"))
    with pytest.raises(ValidationError) as info:
        decode_one(naive.encode())
    assert info.value.field == "timestamp"
    decoded = decode_one(naive.encode(), naive_utc=True)
    assert decoded.timestamp == datetime(2025, 10, 1, 9, 2, tzinfo=UTC)
    assert decoded.send_time == datetime(2025, 10, 1, 9, 0, tzinfo=UTC)
    # An explicit offset is kept as it is.
    offset = decode_one(
        json.dumps(event(timestamp="2025-10-01T09:02:00+02:00")).encode(), naive_utc=True
    )
    assert offset.timestamp == datetime(2025, 10, 1, 7, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-ndjson",
        "application/ndjson",
        "Application/JSON",
        "application/vnd.api+json",
    ],
)
def test_json_content_types_pass(value: str) -> None:
    check_content_type(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "text/json",
    ],
)
def test_other_content_types_are_refused(value: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        check_content_type(value)
    assert info.value.field == "Content-Type"


def test_an_item_deeper_than_the_decoder_goes_is_rejected_alone() -> None:
    good = json.dumps(event())
    deep = good[:-1] + ', "metadata": ' + '{"a": ' * 3000 + "1" + "}" * 3000 + "}"
    for body in (f"[{good}, {deep}, {good}]", f"{good}\n{deep}\n{good}"):
        decoded = decode_body(body.encode(), max_events=10)
        assert [i for i, _ in decoded.events] == [0, 2]
        assert [(r.index, r.field) for r in decoded.rejected] == [(1, "metadata")]
    with pytest.raises(ValidationError) as info:
        decode_one(deep.encode())
    assert info.value.field == "metadata"
