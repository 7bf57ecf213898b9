"""ESP payload shapes → canonical incoming events."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sendflowr.connector.webhooks import map_klaviyo, map_sendgrid
from sendflowr.errors import BadBody, SignatureInvalid

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
