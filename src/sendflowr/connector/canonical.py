"""``IncomingEvent`` → identity keys and ``CanonicalEvent``, keeping raw addresses out.

Privacy rules applied here (SPEC §1): the email is normalised and hashed; any
string in ``metadata`` (keys and values, nested) that looks like an email address
is replaced by ``[redacted-email]``; the recipient's own address is removed from
the free-text fields; an id field holding an address (senders often use the
address as their id) is replaced by its hash.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final

from sendflowr.errors import ValidationError
from sendflowr.events import CanonicalEvent, IncomingEvent, uuid7
from sendflowr.identity import IdentityKey, Resolution, hash_email, key_of, key_set, normalise_email
from sendflowr.identity.store import KeySet

__all__ = ["REDACTED", "canonicalise", "identity_keys", "scrub", "scrub_metadata"]

REDACTED: Final = "[redacted-email]"
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_FULL_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT_FIELDS: Final = ("subject", "click_url", "user_agent", "campaign_name", "message_id")
# Identity id fields of IncomingEvent and the key type each feeds.
_ID_FIELDS: Final = (
    ("recipient_id", "recipient_id"),
    ("esp_user_id", "esp_user_id"),
    ("klaviyo_id", "klaviyo_id"),
    ("shopify_customer_id", "shopify_customer_id"),
)
_COMMON: Final = tuple(
    f for f in IncomingEvent.__struct_fields__ if f in CanonicalEvent.__struct_fields__
)
_SKIP: Final = frozenset({"event_id", "recipient_id", "metadata", "timestamp", *_TEXT_FIELDS})
_COPY: Final = tuple(f for f in _COMMON if f not in _SKIP)


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


def identity_keys(event: IncomingEvent) -> KeySet:
    """The event's identity keys (email hashed, phone in E.164); ``ValidationError`` if bad."""
    keys: list[IdentityKey] = []
    if event.recipient_email:
        if not _looks_like_email(event.recipient_email):
            raise ValidationError("recipient_email", "not an email address")
        keys.append(IdentityKey("email", hash_email(event.recipient_email)))
    if event.phone:
        keys.append(key_of("phone", event.phone))
    for field, key_type in _ID_FIELDS:
        value = getattr(event, field)
        if value and value.strip():
            keys.append(key_of(key_type, _id_value(value)))
    return key_set(keys)


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
    return ts.replace(microsecond=ts.microsecond - ts.microsecond % 1000)


def canonicalise(
    event: IncomingEvent, resolution: Resolution, ingested_at: datetime
) -> CanonicalEvent:
    """The event as published: hash and universal id instead of the raw address."""
    fields: dict[str, Any] = {name: getattr(event, name) for name in _COPY}
    email = normalise_email(event.recipient_email) if event.recipient_email else ""
    for name in _TEXT_FIELDS:
        fields[name] = _without(getattr(event, name), email)
    if event.send_time is not None:
        fields["send_time"] = _utc_ms(event.send_time)
    return CanonicalEvent(
        **fields,
        event_id=event.event_id or uuid7(ingested_at),
        timestamp=_utc_ms(event.timestamp),
        metadata=scrub_metadata(event.metadata) if event.metadata else {},
        universal_id=resolution.universal_id,
        recipient_email_hash=hash_email(email) if email else "",
        recipient_id=_id_value(event.recipient_id) if event.recipient_id else "",
        ingested_at=ingested_at,
    )
