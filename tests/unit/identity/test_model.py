"""Identity keys: normalisation, confidences, the strongest key."""

from __future__ import annotations

import pytest

from sendflowr.errors import IdentityError, ValidationError
from sendflowr.identity import KEY_CONFIDENCE, IdentityKey, hash_email, key_of, normalise_phone
from sendflowr.identity.model import strongest


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+44 20 7946 0958", "+442079460958"),
        ("0044 (20) 7946-0958", "+442079460958"),
        ("+1.415.555.2671", "+14155552671"),
    ],
)
def test_phone_numbers_become_e164(raw: str, e164: str) -> None:
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize("raw", ["020 7946 0958", "+0123456789", "+12", "+1 abc 555", ""])
def test_phone_numbers_without_country_code_are_rejected(raw: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalise_phone(raw)
    assert info.value.field == "phone"


def test_confidences_follow_the_spec() -> None:
    assert KEY_CONFIDENCE["email"] == KEY_CONFIDENCE["phone"] == 1.0
    assert KEY_CONFIDENCE["klaviyo_id"] == 0.95
    assert KEY_CONFIDENCE["shopify_customer_id"] == 0.90
    assert [
        KEY_CONFIDENCE[k] for k in ("payment_id", "support_id", "device_id", "cookie", "ip")
    ] == [
        0.85,
        0.80,
        0.70,
        0.50,
        0.30,
    ]


def test_email_keys_hold_the_hash_never_the_address() -> None:
    key = key_of("email", " Ann@Example.com ")
    assert key == IdentityKey("email", hash_email("ann@example.com"))
    assert "@" not in key.value


def test_key_of_rejects_unknown_types_and_empty_values() -> None:
    with pytest.raises(ValidationError):
        key_of("shoe_size", "42")
    with pytest.raises(ValidationError):
        key_of("cookie", "  ")


def test_strongest_prefers_deterministic_keys_and_needs_one() -> None:
    keys = (
        IdentityKey("cookie", "c"),
        IdentityKey("phone", "+15550000000"),
        IdentityKey("email", "h"),
    )
    assert strongest(keys).key_type == "email"
    assert strongest(keys[:2]).key_type == "phone"
    with pytest.raises(IdentityError):
        strongest(())


def test_an_id_that_is_an_address_is_kept_as_its_hash() -> None:
    assert key_of("cookie", "Ann@Example.com") == IdentityKey(
        "cookie", hash_email("ann@example.com")
    )
    assert key_of("cookie", "not-an-address") == IdentityKey("cookie", "not-an-address")
