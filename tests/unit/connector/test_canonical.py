"""Canonicalisation: hashing, identity keys, scrubbing of addresses, event ids."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID, uuid4

import msgspec
import pytest

from sendflowr.connector.canonical import canonicalise, identity_keys
from sendflowr.connector.privacy import REDACTED
from sendflowr.errors import ValidationError
from sendflowr.events import IncomingEvent, encode_event
from sendflowr.identity import IdentityKey, Resolution

T0 = datetime(2025, 10, 1, 10, 0, 0, 123456, tzinfo=UTC)
RES = Resolution("sf_0123456789abcdef", 1.0, True)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_email_is_normalised_and_hashed_and_never_published() -> None:
    event = IncomingEvent(
        event_type="clicked",
        timestamp=T0,
        recipient_email="  Ann.Lee@Example.COM ",
        subject="Hi Ann.Lee@example.com!",
        click_url="https://shop.example.com/?u=ann.lee%40example.com",
        metadata={"note": "cc bob@example.org", "bob@example.org": 1, "deep": [{"x": "a@b.io"}]},
    )
    keys, email_hash = identity_keys(event)
    assert email_hash == sha("ann.lee@example.com")
    assert keys == (IdentityKey("email", email_hash),)
    canonical = canonicalise(event, email_hash, RES, T0)
    wire = encode_event(canonical)
    assert b"@" not in wire and b"%40" not in wire
    assert canonical.recipient_email_hash == email_hash
    assert canonical.universal_id == RES.universal_id
    assert canonical.subject == f"Hi {REDACTED}!"
    assert canonical.metadata == {
        "note": f"cc {REDACTED}",
        REDACTED: 1,
        "deep": [{"x": REDACTED}],
    }


def test_an_id_field_holding_an_address_is_hashed() -> None:
    event = IncomingEvent(event_type="sent", timestamp=T0, recipient_id="Ann@Example.com")
    keys, email_hash = identity_keys(event)
    assert email_hash == ""
    assert keys == (IdentityKey("recipient_id", sha("ann@example.com")),)
    canonical = canonicalise(event, email_hash, RES, T0)
    assert canonical.recipient_id == sha("ann@example.com")


def test_an_rfc_message_id_is_hashed_so_a_message_still_joins() -> None:
    def published(message_id: str, event_type: str) -> str:
        event = IncomingEvent(
            event_type=event_type, timestamp=T0, recipient_email="a@b.co", message_id=message_id
        )
        keys, email_hash = identity_keys(event)
        return canonicalise(event, email_hash, RES, T0).message_id

    rfc = "<20251001.abc@mx.example.com>"
    assert published(rfc, "delivered") == published(rfc, "opened") == sha(rfc.lower())
    assert published("msg_0123", "delivered") == "msg_0123"  # plain ids are kept


def test_keys_cover_phone_and_probabilistic_ids_in_a_stable_order() -> None:
    event = IncomingEvent(
        event_type="sent",
        timestamp=T0,
        phone="+44 (20) 7946-0958",
        klaviyo_id="K1",
        shopify_customer_id="S1",
    )
    keys, _ = identity_keys(event)
    assert keys == tuple(
        sorted(
            [
                IdentityKey("phone", "+442079460958"),
                IdentityKey("klaviyo_id", "K1"),
                IdentityKey("shopify_customer_id", "S1"),
            ]
        )
    )


@pytest.mark.parametrize(("field", "value"), [("recipient_email", "no-at-sign"), ("phone", "12")])
def test_unusable_keys_raise(field: str, value: str) -> None:
    event = msgspec.convert({"event_type": "sent", "timestamp": T0, field: value}, IncomingEvent)
    with pytest.raises(ValidationError) as info:
        identity_keys(event)
    assert info.value.field == field


def test_timestamps_become_utc_milliseconds() -> None:
    plus2 = timezone(timedelta(hours=2))
    event = IncomingEvent(
        event_type="delivered",
        timestamp=T0.astimezone(plus2),
        send_time=T0.astimezone(plus2),
        recipient_email="a@b.co",
    )
    canonical = canonicalise(event, "h", RES, T0)
    assert canonical.timestamp == T0.replace(microsecond=123000)
    assert canonical.timestamp.utcoffset() == timedelta(0)
    assert canonical.send_time == T0.replace(microsecond=123000)


def test_a_provider_id_is_kept_in_metadata_and_mapped_to_a_stable_uuid() -> None:
    def build(event_id: str, esp: str = "sendgrid") -> IncomingEvent:
        return IncomingEvent(
            event_type="sent", timestamp=T0, recipient_email="a@b.co", event_id=event_id, esp=esp
        )

    first = canonicalise(build("rbtnWrG1DVDGGGFHFyun0A=="), "h", RES, T0)
    again = canonicalise(build("rbtnWrG1DVDGGGFHFyun0A=="), "h", RES, T0 + timedelta(hours=1))
    assert first.event_id == again.event_id and UUID(first.event_id).version == 5
    assert first.metadata == {"provider_event_id": "rbtnWrG1DVDGGGFHFyun0A=="}
    # The same text from another provider is another event.
    assert canonicalise(build("rbtnWrG1DVDGGGFHFyun0A==", "klaviyo"), "h", RES, T0).event_id != (
        first.event_id
    )
    uuid_given = str(uuid4())
    kept = canonicalise(build(uuid_given.upper()), "h", RES, T0)
    assert kept.event_id == uuid_given and kept.metadata == {}


def test_an_event_without_an_id_gets_one_from_its_content() -> None:
    def build(**extra: object) -> IncomingEvent:
        fields: dict[str, object] = {
            "event_type": "sent",
            "timestamp": T0,
            "recipient_email": "a@b.co",
        }
        return msgspec.convert({**fields, **extra}, IncomingEvent)

    one = canonicalise(build(metadata={"a": 1, "b": 2}), "h", RES, T0)
    same = canonicalise(build(metadata={"b": 2, "a": 1}), "h", RES, T0 + timedelta(seconds=5))
    other = canonicalise(build(metadata={"a": 1, "b": 3}), "h", RES, T0)
    assert one.event_id == same.event_id != other.event_id
    assert UUID(one.event_id).version == 5


def test_an_id_field_holding_any_address_is_hashed() -> None:
    for value in ("leak@localhost", "josé@exämple.com"):
        event = IncomingEvent(event_type="sent", timestamp=T0, recipient_id=value)
        canonical = canonicalise(event, "", RES, T0)
        assert canonical.recipient_id == sha(value.lower())
