"""``IncomingEvent`` → identity keys and ``CanonicalEvent``, keeping raw addresses out.

Privacy rules applied here (``privacy``): the email is normalised and
hashed; the free-text fields (subject, click_url, user_agent, campaign_name) and
every string of ``metadata`` (keys and values, nested) are scrubbed; an identity id
field holding an address (senders often use the address as their id) is replaced by
its hash. Id and enum fields holding an address never get here: ``decode`` refuses
them. The event id follows ``ids.derive_event_id``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from sendflowr.connector.ids import derive_event_id
from sendflowr.connector.privacy import (
    contains_address,
    json_may_hold_address,
    scrub,
    scrub_metadata,
)
from sendflowr.errors import ValidationError
from sendflowr.events import CanonicalEvent, IncomingEvent
from sendflowr.identity import IdentityKey, Resolution, hash_email, key_of, key_set
from sendflowr.identity.store import KeySet

__all__ = ["canonicalise", "identity_keys"]

_FULL_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT_FIELDS: Final = ("subject", "click_url", "user_agent", "campaign_name")
# Identity id fields of IncomingEvent and the key type each feeds.
_ID_FIELDS: Final = (
    ("recipient_id", "recipient_id"),
    ("esp_user_id", "esp_user_id"),
    ("klaviyo_id", "klaviyo_id"),
    ("shopify_customer_id", "shopify_customer_id"),
)
_INCOMING_ONLY: Final = tuple(
    f for f in IncomingEvent.__struct_fields__ if f not in CanonicalEvent.__struct_fields__
)
_asdict: Final = msgspec.structs.asdict
_encode: Final = msgspec.json.encode


def _looks_like_email(value: str) -> bool:
    return "@" in value and _FULL_EMAIL.match(value.strip()) is not None


def _id_value(value: str) -> str:
    return hash_email(value) if contains_address(value) else value


def identity_keys(event: IncomingEvent) -> tuple[KeySet, str]:
    """The event's identity keys (email hashed, phone in E.164) and its email hash.

    Raises ``ValidationError`` for an address or phone number that is not one.
    """
    keys: list[IdentityKey] = []
    email_hash = ""
    if event.recipient_email:
        if not _looks_like_email(event.recipient_email):
            raise ValidationError("recipient_email", "not an email address")
        email_hash = hash_email(event.recipient_email)
        keys.append(IdentityKey("email", email_hash))
    if event.phone:
        keys.append(key_of("phone", event.phone))
    for field, key_type in _ID_FIELDS:
        value = getattr(event, field)
        if value and value.strip():
            keys.append(key_of(key_type, _id_value(value)))
    return key_set(keys), email_hash


def _utc_ms(ts: datetime) -> datetime:
    if ts.tzinfo is not UTC:
        ts = ts.astimezone(UTC)
    micro = ts.microsecond % 1000
    return ts.replace(microsecond=ts.microsecond - micro) if micro else ts


def canonicalise(
    event: IncomingEvent,
    email_hash: str,
    resolution: Resolution,
    ingested_at: datetime,
) -> CanonicalEvent:
    """The event as published: hash and universal id instead of the raw address."""
    fields: dict[str, Any] = _asdict(event)
    for name in _INCOMING_ONLY:
        del fields[name]
    for name in _TEXT_FIELDS:
        text = fields[name]
        if text:
            fields[name] = scrub(text)
    metadata = event.metadata
    if metadata and json_may_hold_address(_encode(metadata)):
        fields["metadata"] = scrub_metadata(metadata)
    event_id, provider_event_id = derive_event_id(event)
    if provider_event_id:
        fields["metadata"] = {**fields["metadata"], "provider_event_id": provider_event_id}
    if event.send_time is not None:
        fields["send_time"] = _utc_ms(event.send_time)
    fields["timestamp"] = _utc_ms(event.timestamp)
    fields["event_id"] = event_id
    if event.recipient_id:
        fields["recipient_id"] = _id_value(event.recipient_id)
    if event.message_id:
        # An RFC 5322 Message-ID (<local@host>) looks like an address: its hash keeps the
        # joins between a message's events without storing it.
        fields["message_id"] = _id_value(event.message_id)
    return CanonicalEvent(
        **fields,
        universal_id=resolution.universal_id,
        recipient_email_hash=email_hash,
        ingested_at=ingested_at,
    )
