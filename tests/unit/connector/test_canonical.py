"""Canonicalisation: hashing, identity keys, scrubbing of addresses, event ids."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from sendflowr.connector.canonical import (
    REDACTED,
    canonicalise,
    identity_keys,
    new_event_id,
    scrub_metadata,
)
from sendflowr.errors import ValidationError
from sendflowr.events import IncomingEvent, encode_event, uuid7
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


def test_sender_event_id_is_kept_and_a_missing_one_is_a_uuid7() -> None:
    kept = canonicalise(
        IncomingEvent(event_type="sent", timestamp=T0, recipient_email="a@b.co", event_id="mine"),
        "h",
        RES,
        T0,
        "generated",
    )
    assert kept.event_id == "mine"
    made = canonicalise(
        IncomingEvent(event_type="sent", timestamp=T0, recipient_email="a@b.co"), "h", RES, T0
    )
    assert made.event_id[14] == "7" and len(made.event_id) == 36


def test_new_event_id_matches_the_reference_uuid7() -> None:
    rand = bytes(range(10, 20))
    assert new_event_id(int(T0.timestamp() * 1000), rand) == uuid7(T0, rand)


def test_scrub_metadata_leaves_other_values_alone() -> None:
    value = {"n": 1, "ok": "plain text", "list": [True, None, 2.5]}
    assert scrub_metadata(value) == value
