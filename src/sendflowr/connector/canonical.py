"""``IncomingEvent`` → identity keys and ``CanonicalEvent``, keeping raw addresses out.

Privacy rules applied here: the email is normalised and hashed; any
string in ``metadata`` (keys and values, nested) or in the free-text fields
(subject, click_url, user_agent, campaign_name) that looks like an email address,
also ``%40``-encoded, is replaced by ``[redacted-email]``; the recipient's own
address is removed from ``message_id``; an id field holding an address (senders
often use the address as their id) is replaced by its hash.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from sendflowr.errors import ValidationError
from sendflowr.events import CanonicalEvent, IncomingEvent, uuid7
from sendflowr.identity import IdentityKey, Resolution, hash_email, key_of, key_set, normalise_email
from sendflowr.identity.store import KeySet

__all__ = [
    "REDACTED",
    "canonicalise",
    "identity_keys",
    "new_event_id",
    "scrub",
    "scrub_metadata",
]

REDACTED: Final = "[redacted-email]"
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+", re.IGNORECASE
)
_FULL_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
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
_encode: Final = msgspec.json.encode
_asdict: Final = msgspec.structs.asdict


def scrub(text: str) -> str:
    """``text`` with every email-looking substring (also ``%40``-encoded) redacted."""
    if "@" not in text and "%40" not in text:
        return text
    return _EMAIL.sub(REDACTED, text)


def scrub_metadata(value: Any) -> Any:
    """A copy of a JSON value with email-looking strings redacted in keys and values."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(str(k)): scrub_metadata(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_metadata(v) for v in value]
    return value


def _looks_like_email(value: str) -> bool:
    return "@" in value and _FULL_EMAIL.match(value.strip()) is not None


def _id_value(value: str) -> str:
    return hash_email(value) if _looks_like_email(value) else value


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


def new_event_id(ingested_ms: int, random_bytes: bytes) -> str:
    """A UUIDv7 string (same layout as ``events.uuid7``) without building a ``UUID``."""
    value = (ingested_ms & 0xFFFFFFFFFFFF) << 80 | 0x7 << 76
    value |= (int.from_bytes(random_bytes[0:2], "big") & 0x0FFF) << 64 | 0b10 << 62
    value |= int.from_bytes(random_bytes[2:10], "big") & ((1 << 62) - 1)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _without(text: str, email: str) -> str:
    if not text or "@" not in text and "%40" not in text:
        return text
    lowered = text.lower()
    if email and (email in lowered or email.replace("@", "%40") in lowered):
        pattern = re.compile(re.escape(email).replace("@", "(?:@|%40)"), re.IGNORECASE)
        text = pattern.sub(REDACTED, text)
    return text


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
    event_id: str = "",
) -> CanonicalEvent:
    """The event as published: hash and universal id instead of the raw address.

    ``event_id`` is used when the sender gave none (default: a fresh UUIDv7).
    """
    fields: dict[str, Any] = _asdict(event)
    for name in _INCOMING_ONLY:
        del fields[name]
    for name in _TEXT_FIELDS:
        text = fields[name]
        if text and ("@" in text or "%40" in text):
            fields[name] = scrub(text)
    # A Message-ID looks like an address by design: only the recipient's own one goes.
    if event.recipient_email and "@" in event.message_id:
        fields["message_id"] = _without(event.message_id, normalise_email(event.recipient_email))
    metadata = event.metadata
    if metadata:
        encoded = _encode(metadata)
        if b"@" in encoded or b"%40" in encoded:
            fields["metadata"] = scrub_metadata(metadata)
    if event.send_time is not None:
        fields["send_time"] = _utc_ms(event.send_time)
    fields["timestamp"] = _utc_ms(event.timestamp)
    fields["event_id"] = event.event_id or event_id or uuid7(ingested_at)
    if event.recipient_id:
        fields["recipient_id"] = _id_value(event.recipient_id)
    return CanonicalEvent(
        **fields,
        universal_id=resolution.universal_id,
        recipient_email_hash=email_hash,
        ingested_at=ingested_at,
    )
