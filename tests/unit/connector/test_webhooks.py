"""ESP payload shapes → canonical incoming events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from sendflowr.connector.decode import Rejection
from sendflowr.connector.webhooks import Mapped, map_klaviyo, map_sendgrid
from sendflowr.errors import BadBody, SignatureInvalid
from tests.unit.connector.esp_examples import SENDGRID_EXAMPLE, SENDGRID_MODELLED, klaviyo_system

TS = 1759312800  # 2025-10-01T10:00:00Z


def test_sendgrid_event_array_maps_each_known_event() -> None:
    body = json.dumps(
        [
            {"event": "processed", "email": "a@example.com", "timestamp": TS, "sg_event_id": "e1"},
            {"event": "delivered", "email": "a@example.com", "timestamp": TS, "sg_message_id": "m"},
            {
                "event": "open",
                "email": "a@example.com",
                "timestamp": TS,
                "useragent": "UA",
                "ip": "1.2.3.4",
            },
            {"event": "click", "email": "a@example.com", "timestamp": TS, "url": "https://x.io"},
            {"event": "bounce", "email": "a@example.com", "timestamp": TS, "type": "bounce"},
            {"event": "unsubscribe", "email": "a@example.com", "timestamp": TS},
            {"event": "spamreport", "email": "a@example.com", "timestamp": TS, "campaign": "c9"},
            {"event": "deferred", "email": "a@example.com", "timestamp": TS},
            {"event": "open", "timestamp": "not-a-time", "email": "a@example.com"},
        ]
    ).encode()
    mapped = map_sendgrid(body)
    types = [e.event_type for _, e in mapped.events]
    assert types == [
        "sent",
        "delivered",
        "opened",
        "clicked",
        "bounced",
        "unsubscribed",
        "marked_spam",
    ]
    first = mapped.events[0][1]
    assert first.event_id == "e1" and first.esp == "sendgrid"
    assert first.timestamp == datetime(2025, 10, 1, 10, tzinfo=UTC)
    assert mapped.events[2][1].user_agent == "UA" and mapped.events[2][1].ip_address == "1.2.3.4"
    assert mapped.events[3][1].click_url == "https://x.io"
    assert mapped.events[4][1].bounce_type == "bounce"
    assert mapped.events[6][1].metadata["campaign"] == "c9"
    assert mapped.skipped == 1
    assert [(r.index, r.field) for r in mapped.rejected] == [(8, "timestamp")]


def test_sendgrid_body_must_be_an_array() -> None:
    with pytest.raises(BadBody):
        map_sendgrid(b'{"event": "open"}')
    with pytest.raises(BadBody):
        map_sendgrid(b"[")


def test_klaviyo_system_webhook_envelope() -> None:
    body = json.dumps(
        {
            "data": [
                {
                    "topic": "event:klaviyo.opened_email",
                    "external_id": "ev-1",
                    "payload": {
                        "data": {
                            "type": "event",
                            "id": "ev-1",
                            "attributes": {
                                "datetime": "2025-10-01T10:00:00+00:00",
                                "event_properties": {"Subject": "Hello", "$message": "msg-1"},
                            },
                            "relationships": {"profile": {"data": {"type": "profile", "id": "P1"}}},
                        },
                        "included": [
                            {"type": "profile", "attributes": {"email": "k@example.com"}},
                            {"type": "metric", "attributes": {"name": "Opened Email"}},
                        ],
                    },
                },
                {"topic": "event:klaviyo.subscribed_to_list", "payload": {}},
            ],
            "meta": {"klaviyo_account_id": "X"},
        }
    ).encode()
    mapped = map_klaviyo(body)
    assert mapped.skipped == 1 and not mapped.rejected
    [(index, event)] = mapped.events
    assert index == 0
    assert event.event_type == "opened" and event.esp == "klaviyo"
    assert (event.event_id, event.klaviyo_id, event.recipient_email) == (
        "ev-1",
        "P1",
        "k@example.com",
    )
    assert (event.subject, event.message_id) == ("Hello", "msg-1")


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("Sent Email", "sent"),
        ("Received Email", "delivered"),
        ("Opened Email", "opened"),
        ("Clicked Email", "clicked"),
        ("Bounced Email", "bounced"),
        ("Unsubscribed", "unsubscribed"),
        ("Marked Email as Spam", "marked_spam"),
    ],
)
def test_klaviyo_flow_webhook_metric_names(metric: str, expected: str) -> None:
    body = json.dumps(
        {"metric": metric, "email": "k@example.com", "timestamp": TS, "properties": {"URL": "u"}}
    ).encode()
    [(_, event)] = map_klaviyo(body).events
    assert event.event_type == expected
    assert event.click_url == "u"
    assert event.metadata["klaviyo_metric"] == metric


def test_klaviyo_webhook_id_must_match_the_envelope() -> None:
    body = json.dumps({"data": [], "meta": {"klaviyo_webhook_id": "wh-1"}}).encode()
    assert map_klaviyo(body, "wh-1").events == []
    with pytest.raises(SignatureInvalid):
        map_klaviyo(body, "wh-2")


def test_sendgrid_documented_example_maps_every_modelled_event() -> None:
    mapped = map_sendgrid(json.dumps(SENDGRID_EXAMPLE).encode())
    assert len(mapped.events) == SENDGRID_MODELLED and mapped.skipped == 2
    assert not mapped.rejected
    ids = {event.event_id for _, event in mapped.events}
    assert "rbtnWrG1DVDGGGFHFyun0A==" in ids  # mapped to a UUID later, by the ingestor


def _one_item_rejected(mapped: Mapped, index: int = 1) -> Rejection:
    assert [i for i, _ in mapped.events] == [0, 2]
    [rejection] = mapped.rejected
    assert rejection.index == index
    return rejection


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"event": "open", "email": "a@example.com", "timestamp": 1e20}, "timestamp"),
        ({"event": "open", "email": "a@example.com", "timestamp": TS, "ip": ["x"]}, "ip_address"),
        (
            {"event": "open", "email": "a@example.com", "timestamp": TS, "url": {"a": 1}},
            "click_url",
        ),
        ({"event": "open", "timestamp": TS}, "recipient_email"),
        (
            {"event": "open", "email": "a@example.com", "timestamp": TS, "arg": "x" * 2_000_000},
            "metadata",
        ),
        (
            {"event": "open", "email": "a@example.com", "timestamp": TS, "sg_event_id": "a@b.co"},
            "event_id",
        ),
        ("not an object", "$"),
    ],
)
def test_a_bad_sendgrid_item_is_rejected_alone(bad: Any, field: str) -> None:
    good = {"event": "open", "email": "a@example.com", "timestamp": TS}
    rejection = _one_item_rejected(map_sendgrid(json.dumps([good, bad, good]).encode()))
    assert rejection.field == field


def test_a_sendgrid_item_nested_too_deep_is_rejected_alone() -> None:
    good = json.dumps({"event": "open", "email": "a@example.com", "timestamp": TS})
    deep = '{"event": "open", "email": "a@example.com", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    mapped = map_sendgrid(f"[{good}, {deep}, {good}]".encode())
    assert _one_item_rejected(mapped).field == "metadata"


@pytest.mark.parametrize(
    "item",
    [
        {"topic": "event:klaviyo.opened_email", "payload": {"data": {"attributes": "a string"}}},
        {"topic": "event:klaviyo.opened_email", "payload": {"data": {"relationships": []}}},
        {"topic": "event:klaviyo.opened_email", "payload": []},
        {
            "topic": "event:klaviyo.opened_email",
            "payload": {"data": {"attributes": {"timestamp": 1e20}}},
        },
        {"topic": "event:klaviyo.opened_email", "payload": {"included": "x", "data": 3}},
        7,
    ],
)
def test_klaviyo_items_of_the_wrong_json_type_are_rejected_alone(item: Any) -> None:
    good = klaviyo_system("01HGOOD00000000000000000000", "k@example.com")["data"][0]
    mapped = map_klaviyo(json.dumps({"data": [good, item, good]}).encode())
    _one_item_rejected(mapped)


def test_klaviyo_system_webhook_included_inside_beside_or_above_the_payload() -> None:
    document = klaviyo_system("01HQZ8X4K2M3N5P7R9T1V3W5Y7", "k@example.com")
    item = document["data"][0]
    included = item["payload"].pop("included")
    shapes = [
        klaviyo_system("01HQZ8X4K2M3N5P7R9T1V3W5Y7", "k@example.com"),  # inside the payload
        {"data": [{**item, "included": included}]},  # beside the payload
        {"data": [item], "included": included},  # beside data, at the top
        # The payload as the event itself (no "data" wrapper), included beside it.
        {"data": [{**item, "payload": item["payload"]["data"], "included": included}]},
    ]
    for shape in shapes:
        mapped = map_klaviyo(json.dumps(shape).encode())
        [(_, event)] = mapped.events
        assert event.recipient_email == "k@example.com", shape
        assert event.klaviyo_id == "01HPROFILE0"
        assert event.event_id == "01HQZ8X4K2M3N5P7R9T1V3W5Y7"
        assert (event.event_type, event.subject) == ("opened", "Autumn sale")


def test_klaviyo_profile_is_picked_by_the_events_relationship() -> None:
    document = klaviyo_system("01HQZ8X4K2M3N5P7R9T1V3W5Y8", "right@example.com")
    payload = document["data"][0]["payload"]
    payload["included"].insert(
        0, {"type": "profile", "id": "OTHER", "attributes": {"email": "wrong@example.com"}}
    )
    [(_, event)] = map_klaviyo(json.dumps(document).encode()).events
    assert event.recipient_email == "right@example.com"


@pytest.mark.parametrize(
    "flow",
    [
        {"metric": "Clicked Email", "email": "k@example.com", "timestamp": TS},
        {"metric": "Clicked Email", "profile": {"email": "k@example.com"}, "time": TS},
        {
            "event": "Clicked Email",
            "person": {"email": "k@example.com", "id": "P9"},
            "timestamp": TS,
        },
        {"metric": "Clicked Email", "$email": "k@example.com", "datetime": "2025-10-01T10:00:00Z"},
    ],
)
def test_klaviyo_flow_webhooks_yield_the_email(flow: dict[str, Any]) -> None:
    [(_, event)] = map_klaviyo(json.dumps([flow]).encode()).events
    assert event.recipient_email == "k@example.com" and event.event_type == "clicked"
