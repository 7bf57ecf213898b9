"""Request bodies → ``IncomingEvent`` items, each either valid or rejected with a reason.

A body is a JSON array of events, NDJSON (one event per line) or one JSON object.
Malformed JSON is a ``BadBody`` (HTTP 400); too many events is ``TooLarge``
(HTTP 413); an item that is valid JSON but not a valid event becomes a
``Rejection`` naming the field and the reason (HTTP 422 when nothing is accepted).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import msgspec

from sendflowr.errors import ValidationError
from sendflowr.events import CHANNELS, EVENT_TYPES, IncomingEvent
from sendflowr.timing.zones import check_zone

__all__ = [
    "BadBody",
    "Decoded",
    "Rejection",
    "TooLarge",
    "decode_body",
    "decode_one",
    "explain_validation",
]

_item_decoder: Final = msgspec.json.Decoder(IncomingEvent)
_array_decoder: Final = msgspec.json.Decoder(list[msgspec.Raw])
_batch_decoder: Final = msgspec.json.Decoder(list[IncomingEvent])
_AT = re.compile(r"at `\$(?:\[\d+\])?\.?([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]+)`")
_CHANNELS: Final = frozenset(CHANNELS)
_ID_KEYS: Final = (
    "recipient_email",
    "phone",
    "recipient_id",
    "esp_user_id",
    "klaviyo_id",
    "shopify_customer_id",
)
_MAX_METADATA_BYTES: Final = 16_384


class BadBody(ValidationError):
    """The body is not JSON / NDJSON at all."""


class TooLarge(ValidationError):
    """The body holds more events (or bytes) than one request may carry."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why item ``index`` of a request was rejected."""

    index: int
    field: str
    reason: str


@dataclass(slots=True)
class Decoded:
    """The items of one body: valid events with their indexes, and rejections."""

    events: list[tuple[int, IncomingEvent]]
    rejected: list[Rejection]


def explain_validation(exc: msgspec.ValidationError) -> tuple[str, str]:
    message = str(exc)
    missing = _MISSING.search(message)
    if missing:
        return missing.group(1), "missing required field"
    at = _AT.search(message)
    field = at.group(1) if at and at.group(1) else "$"
    reason = message.split(" - at `", 1)[0]
    return field, reason


def _check(event: IncomingEvent) -> None:
    if event.event_type not in EVENT_TYPES:
        raise ValidationError("event_type", f"unknown event type {event.event_type!r}")
    if event.channel not in _CHANNELS:
        raise ValidationError("channel", f"unknown channel {event.channel!r}")
    if event.timezone:
        check_zone(event.timezone)  # an IANA name; an unknown one is rejected by name
    first = (
        event.recipient_email
        or event.phone
        or event.recipient_id
        or event.esp_user_id
        or event.klaviyo_id
        or event.shopify_customer_id
    )
    if not first.strip() and not any(getattr(event, k).strip() for k in _ID_KEYS):
        raise ValidationError("recipient_email", "no usable identity key (email, phone or an id)")
    if event.metadata and len(msgspec.json.encode(event.metadata)) > _MAX_METADATA_BYTES:
        raise ValidationError("metadata", f"larger than {_MAX_METADATA_BYTES} bytes")


def decode_one(raw: bytes | msgspec.Raw) -> IncomingEvent:
    """Decode and check one event; raises ``ValidationError`` (or ``BadBody`` for bad JSON)."""
    try:
        event = _item_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise ValidationError(*explain_validation(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadBody("$", f"invalid JSON: {exc}") from None
    _check(event)
    return event


def _items(body: bytes, max_events: int) -> list[msgspec.Raw] | list[bytes]:
    stripped = body.lstrip()
    if not stripped:
        raise BadBody("$", "empty body")
    if stripped[:1] == b"[":
        try:
            items = _array_decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise BadBody("$", f"invalid JSON: {exc}") from None
    else:
        lines = [line for line in body.splitlines() if line.strip()]
        items_b: list[bytes] = lines
        if len(items_b) > max_events:
            raise TooLarge("$", f"more than {max_events} events in one request")
        return items_b
    if len(items) > max_events:
        raise TooLarge("$", f"more than {max_events} events in one request")
    return items


def _checked(events: list[IncomingEvent]) -> Decoded:
    decoded = Decoded([], [])
    for index, event in enumerate(events):
        try:
            _check(event)
        except ValidationError as exc:
            decoded.rejected.append(Rejection(index, exc.field, exc.reason))
        else:
            decoded.events.append((index, event))
    return decoded


def decode_body(body: bytes, *, max_events: int) -> Decoded:
    """Split ``body`` into valid events and per-item rejections.

    Raises ``BadBody`` for a body that is not JSON/NDJSON (a NDJSON line that is
    not JSON counts as bad JSON for the whole body) and ``TooLarge`` beyond
    ``max_events``; an empty batch is a ``BadBody`` too.
    """
    if body.lstrip()[:1] == b"[":
        # Fast path: a fully valid array decodes in one call; otherwise go item by item.
        try:
            events = _batch_decoder.decode(body)
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
        else:
            if len(events) > max_events:
                raise TooLarge("$", f"more than {max_events} events in one request")
            if events:
                return _checked(events)
    items = _items(body, max_events)
    if not items:
        raise BadBody("$", "no events in the request")
    decoded = Decoded([], [])
    for index, raw in enumerate(items):
        try:
            decoded.events.append((index, decode_one(raw)))
        except BadBody:
            raise
        except ValidationError as exc:
            decoded.rejected.append(Rejection(index, exc.field, exc.reason))
    return decoded
