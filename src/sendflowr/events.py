"""The canonical event: vocabulary, schema and wire encoding.

``CanonicalEvent`` is what travels on Kafka (``email-events``) and is stored in
ClickHouse: it carries ``recipient_email_hash`` and ``universal_id`` and never a
raw address. ``IncomingEvent`` is what the connector accepts: the same fields,
but the raw ``recipient_email`` and identity keys instead of the hash and id.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from uuid import UUID

import msgspec

__all__ = [
    "CHANNELS",
    "CIRCUIT_BREAKER_TYPES",
    "ENGAGEMENT_TYPES",
    "EVENT_TYPES",
    "HOT_PATH_TYPES",
    "PERMANENT_SUPPRESSION_TYPES",
    "UINT32_MAX",
    "CanonicalEvent",
    "IncomingEvent",
    "decode_event",
    "encode_event",
    "uuid7",
]

ENGAGEMENT_TYPES: Final = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "bounced",
    "unsubscribed",
    "marked_spam",
)
HOT_PATH_TYPES: Final = ("site_visit", "sms_click", "product_view")
CIRCUIT_BREAKER_TYPES: Final = ("support_ticket", "complaint", "unsubscribe_request")
EVENT_TYPES: Final = frozenset(ENGAGEMENT_TYPES + HOT_PATH_TYPES + CIRCUIT_BREAKER_TYPES)
CHANNELS: Final = ("email", "sms", "push")

#: Event types that suppress a recipient for good.
PERMANENT_SUPPRESSION_TYPES: Final = ("unsubscribed", "marked_spam")

#: Largest value of the ``UInt32`` columns (payload size, queue depth).
UINT32_MAX: Final = 2**32 - 1

_Short = Annotated[str, msgspec.Meta(max_length=256)]
_Text = Annotated[str, msgspec.Meta(max_length=4096)]
_UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]
_Count = Annotated[int, msgspec.Meta(ge=0, le=UINT32_MAX)]
_Seconds = Annotated[float, msgspec.Meta(ge=0)]


class _Common(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Fields shared by what the connector receives and what it publishes.

    ``gc=False``: events hold plain data (texts, times, JSON metadata), never a
    reference cycle, so the cyclic garbage collector need not track them; with
    tens of thousands in flight, tracking them made its passes cost ~1 µs an event.
    """

    event_type: _Short
    timestamp: _UtcTime
    esp: _Short = ""
    campaign_id: _Short = ""
    campaign_name: _Short = ""
    message_id: _Short = ""
    subject: _Text = ""
    click_url: _Text = ""
    bounce_type: _Short = ""
    user_agent: _Text = ""
    ip_address: Annotated[str, msgspec.Meta(max_length=64)] = ""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    latency_seconds: _Seconds | None = None
    send_time: _UtcTime | None = None
    hour_of_day: Annotated[int, msgspec.Meta(ge=0, le=23)] | None = None
    minute: Annotated[int, msgspec.Meta(ge=0, le=59)] | None = None
    day_of_week: Annotated[int, msgspec.Meta(ge=0, le=6)] | None = None
    campaign_type: _Short = ""
    payload_size_bytes: _Count | None = None
    queue_depth_estimate: _Count | None = None
    channel: _Short = "email"
    #: the recipient's IANA time zone, when known ("" = unknown, read as UTC).
    timezone: Annotated[str, msgspec.Meta(max_length=64)] = ""


class IncomingEvent(_Common, kw_only=True, omit_defaults=True):
    """An event as a sender posts it to the connector (raw email allowed here only).

    ``event_id`` may be the provider's own id (any text): the connector maps it to a UUID.
    """

    event_id: _Short = ""
    recipient_email: _Short = ""
    recipient_id: _Short = ""
    phone: _Short = ""
    klaviyo_id: _Short = ""
    shopify_customer_id: _Short = ""
    esp_user_id: _Short = ""


class CanonicalEvent(_Common, kw_only=True, omit_defaults=True):
    """An event as published to Kafka and stored in ClickHouse."""

    event_id: Annotated[str, msgspec.Meta(max_length=64)]
    universal_id: _Short
    recipient_email_hash: Annotated[str, msgspec.Meta(max_length=64)] = ""
    recipient_id: _Short = ""
    ingested_at: _UtcTime | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(CanonicalEvent)


def encode_event(event: CanonicalEvent) -> bytes:
    """JSON bytes of ``event`` as written to Kafka."""
    return _encoder.encode(event)


def decode_event(data: bytes) -> CanonicalEvent:
    """Parse and validate one Kafka record value; raises ``msgspec.ValidationError``."""
    return _decoder.decode(data)


def uuid7(timestamp: datetime, random_bytes: bytes | None = None) -> str:
    """A UUIDv7 string whose time part is ``timestamp`` (ms precision).

    Pass ``random_bytes`` (10 bytes from a seeded stream) for reproducible ids;
    without it the random part comes from ``os.urandom``.
    """
    if timestamp.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    ms = int(timestamp.astimezone(UTC).timestamp() * 1000)
    rand = random_bytes if random_bytes is not None else os.urandom(10)
    if len(rand) < 10:
        raise ValueError("uuid7 needs 10 random bytes")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (int.from_bytes(rand[0:2], "big") & 0x0FFF) << 64
    value |= 0b10 << 62
    value |= int.from_bytes(rand[2:10], "big") & ((1 << 62) - 1)
    return str(UUID(int=value))
