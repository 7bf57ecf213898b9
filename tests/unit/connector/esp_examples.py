"""Webhook bodies in the shapes the ESPs document (shared by unit and integration tests).

``SENDGRID_EXAMPLE`` follows the example of SendGrid's Event Webhook reference: one
event of each kind, base64 ``sg_event_id`` values, the same ``sg_message_id`` and
``smtp-id``, custom arguments and categories. ``klaviyo_system`` builds a system
webhook (Klaviyo's "Working with system webhooks"): ``data[]`` of ``{topic,
external_id, payload}`` where the payload is a Get Event API document whose
``included`` holds the profile and metric.
"""

from __future__ import annotations

from typing import Any

TS = 1513299569  # the example's timestamp (2017-12-15T00:59:29Z)
_COMMON: dict[str, Any] = {
    "email": "example@test.com",
    "timestamp": TS,
    "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
    "category": "cat facts",
    "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
}

SENDGRID_EXAMPLE: list[dict[str, Any]] = [
    {**_COMMON, "event": "processed", "sg_event_id": "rbtnWrG1DVDGGGFHFyun0A=="},
    {
        **_COMMON,
        "event": "deferred",
        "sg_event_id": "YedU3QpxBN2-6fAHv1M3tw==",
        "response": "400 try again later",
        "attempt": "5",
    },
    {
        **_COMMON,
        "event": "delivered",
        "sg_event_id": "rWVYmVk90MjZJ9iohOBa3w==",
        "response": "250 OK",
    },
    {
        **_COMMON,
        "event": "open",
        "sg_event_id": "FOTFFO0ecsBE-zxFXfs6WA==",
        "useragent": "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322)",
        "ip": "255.255.255.255",
    },
    {
        **_COMMON,
        "event": "click",
        "sg_event_id": "kCAi1KttyQdEKHhdC-nuEA==",
        "useragent": "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP; .NET CLR 1.1.4322)",
        "ip": "255.255.255.255",
        "url": "http://www.sendgrid.com/",
    },
    {
        **_COMMON,
        "event": "bounce",
        "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
        "reason": "500 unknown recipient",
        "status": "5.0.0",
        "type": "bounce",
    },
    {
        **_COMMON,
        "event": "dropped",
        "sg_event_id": "zmzJhfJgAfUSOW80yEbPyw==",
        "reason": "Bounced Address",
        "status": "5.0.0",
    },
    {**_COMMON, "event": "spamreport", "sg_event_id": "Jq4tCBvBc2BjhxBdAaMtSg=="},
    {**_COMMON, "event": "unsubscribe", "sg_event_id": "fhSC1m8dEvrSnQoGcU-1eg=="},
    {
        **_COMMON,
        "event": "group_unsubscribe",
        "sg_event_id": "ahSCB7xYcXFb-hEaawsPRw==",
        "useragent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_10_5)",
        "ip": "255.255.255.255",
        "url": "http://www.sendgrid.com/",
        "asm_group_id": 10,
    },
    {
        **_COMMON,
        "event": "group_resubscribe",
        "sg_event_id": "w_u0vJhLT-OFfprar5N93g==",
        "asm_group_id": 10,
    },
]
#: Events of the example SendFlowr models (deferred and group_resubscribe are skipped).
SENDGRID_MODELLED = 9


def klaviyo_event(
    event_id: str, email: str, *, metric: str = "Opened Email", profile_id: str = "01HPROFILE0"
) -> dict[str, Any]:
    """A Get Event API document: the event, and its profile and metric in ``included``."""
    return {
        "data": {
            "type": "event",
            "id": event_id,
            "attributes": {
                "timestamp": 1759312800,
                "datetime": "2025-10-01T10:00:00+00:00",
                "event_properties": {"Subject": "Autumn sale", "$message": "01HMESSAGE0"},
            },
            "relationships": {
                "profile": {"data": {"type": "profile", "id": profile_id}},
                "metric": {"data": {"type": "metric", "id": "M1"}},
            },
        },
        "included": [
            {"type": "profile", "id": profile_id, "attributes": {"email": email}},
            {"type": "metric", "id": "M1", "attributes": {"name": metric}},
        ],
    }


def klaviyo_system(event_id: str, email: str, **kwargs: Any) -> dict[str, Any]:
    """A system webhook body carrying one event."""
    return {
        "data": [
            {
                "topic": "event:klaviyo.opened_email",
                "external_id": event_id,
                "payload": klaviyo_event(event_id, email, **kwargs),
            }
        ],
        "meta": {"klaviyo_account_id": "AbC123"},
    }
