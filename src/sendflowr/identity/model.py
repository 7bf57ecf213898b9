"""Identity vocabulary: key types, their link confidences, and resolution results.

A key is a ``(key_type, value)`` pair with a normalised value. Deterministic keys
(email — stored as its hash — and phone in E.164) identify a person for sure;
probabilistic keys carry the confidence of the link they create.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from sendflowr.errors import IdentityError, ValidationError
from sendflowr.identity.keys import hash_email

__all__ = [
    "DETERMINISTIC_KEYS",
    "KEY_CONFIDENCE",
    "IdentityKey",
    "Resolution",
    "key_of",
    "normalise_phone",
    "strongest",
]

#: Link confidence of each key type. Deterministic keys are 1.0.
KEY_CONFIDENCE: Final[dict[str, float]] = {
    "email": 1.0,
    "phone": 1.0,
    "esp_user_id": 0.95,
    "klaviyo_id": 0.95,
    "recipient_id": 0.95,
    "shopify_customer_id": 0.90,
    "commerce_customer_id": 0.90,
    "payment_id": 0.85,
    "support_id": 0.80,
    "device_id": 0.70,
    "cookie": 0.50,
    "ip": 0.30,
}
DETERMINISTIC_KEYS: Final = frozenset({"email", "phone"})
# Order of preference when several keys are given: deterministic first, then by confidence.
_RANK: Final = {name: rank for rank, name in enumerate(KEY_CONFIDENCE)}
_PHONE_STRIP = re.compile(r"[\s().\-/]")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_MAX_VALUE = 256
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class IdentityKey(NamedTuple):
    """One normalised identity key. For email, ``value`` is the SHA-256 hash.

    A named tuple (not a dataclass): the connector builds one per event key, and
    tuples are the cheapest hashable, ordered value Python has.
    """

    key_type: str
    value: str

    @property
    def confidence(self) -> float:
        """Confidence of a link made through this key."""
        return KEY_CONFIDENCE[self.key_type]

    @property
    def rank(self) -> int:
        """Lower is stronger."""
        return _RANK[self.key_type]


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome of resolving one set of keys.

    ``steps`` is the audit trail (what was looked up, found, created, linked);
    ``confidence`` is that of the key the id was found or created through.
    """

    universal_id: str
    confidence: float
    created: bool
    steps: tuple[str, ...] = field(default=())


def normalise_phone(phone: str) -> str:
    """``phone`` in E.164 (``+`` then 7–15 digits); separators are dropped, ``00`` → ``+``.

    Raises ``ValidationError(field="phone")`` for anything else: a number without
    its country code cannot be normalised safely.
    """
    compact = _PHONE_STRIP.sub("", phone.strip())
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if not _E164.match(compact):
        raise ValidationError("phone", "not an E.164 number (+ country code and digits)")
    return compact


def key_of(key_type: str, raw_value: str) -> IdentityKey:
    """Normalise ``raw_value`` as a key of ``key_type`` (email → hash, phone → E.164).

    Any other key whose value is an email address is stored as the address's hash.
    """
    if key_type not in KEY_CONFIDENCE:
        raise ValidationError("key_type", f"unknown identity key type {key_type!r}")
    value = raw_value.strip()
    if not value:
        raise ValidationError(key_type, "empty identity key")
    if key_type == "email":
        if "@" not in value:
            raise ValidationError("recipient_email", "not an email address")
        return IdentityKey("email", hash_email(value))
    if key_type == "phone":
        return IdentityKey("phone", normalise_phone(value))
    if "@" in value and _ADDRESS.match(value):
        # An id that is really an address (senders often use one): keep only its hash,
        # so no raw address reaches the identity store.
        return IdentityKey(key_type, hash_email(value))
    if len(value) > _MAX_VALUE:
        raise ValidationError(key_type, f"longer than {_MAX_VALUE} characters")
    return IdentityKey(key_type, value)


def strongest(keys: tuple[IdentityKey, ...]) -> IdentityKey:
    """The key a new identity's id derives from; raises ``IdentityError`` if there is none."""
    if not keys:
        raise IdentityError("recipient_email", "no usable identity key (email, phone or an id)")
    return min(keys, key=lambda k: (k.rank, k.value))
