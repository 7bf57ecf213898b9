"""Request bodies → ``IncomingEvent`` items, each either valid or rejected with a reason.

A body is a JSON array of events, NDJSON (one event per line) or one JSON object.
Malformed JSON is a ``BadBody`` (HTTP 400); too many events is ``TooLarge``
(HTTP 413); an item that is valid JSON but not a valid event — outside the
``contract``, nested too deep, an address in an id field (``privacy``) — becomes a
``Rejection`` naming the field and the reason (HTTP 422 when nothing is accepted).
A body that is not JSON or NDJSON by its ``Content-Type`` is ``UnsupportedMediaType``
(HTTP 415): a ``text/plain`` or form body is what a cross-site page can send.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import msgspec

from sendflowr.connector.privacy import refuse_addresses
from sendflowr.contract import check_event, too_deep
from sendflowr.errors import BadBody, TooLarge, UnsupportedMediaType, ValidationError
from sendflowr.events import IncomingEvent
from sendflowr.timing.zones import check_zone

__all__ = [
    "DecodedBody",
    "Rejection",
    "check_content_type",
    "check_incoming",
    "decode_body",
    "decode_one",
    "explain_validation",
    "split_array",
]

_item_decoder: Final = msgspec.json.Decoder(IncomingEvent)
_array_decoder: Final = msgspec.json.Decoder(list[msgspec.Raw])
_batch_decoder: Final = msgspec.json.Decoder(list[IncomingEvent])
_AT = re.compile(r"at `\$(?:\[\d+\])?\.?([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]+)`")
_ID_KEYS: Final = (
    "recipient_email",
    "phone",
    "recipient_id",
    "esp_user_id",
    "klaviyo_id",
    "shopify_customer_id",
)
_JSON_TYPES: Final = frozenset({"application/json", "application/x-ndjson", "application/ndjson"})
# Whole JSON strings, or one structural character: what splitting an array must see.
_TOKENS: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]', re.DOTALL)
_NAIVE_FIELDS: Final = ("timestamp", "send_time")


def check_content_type(value: str | None) -> None:
    """Raise ``UnsupportedMediaType`` unless ``value`` names JSON or NDJSON.

    Accepted: ``application/json``, ``application/x-ndjson``, ``application/ndjson``
    and ``application/<anything>+json``, with any parameters (``charset=utf-8``).
    """
    media = (value or "").split(";", 1)[0].strip().lower()
    if media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json")):
        return
    shown = media[:64] or "none"
    raise UnsupportedMediaType(
        "Content-Type", f"{shown} is not accepted: send application/json or application/x-ndjson"
    )


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why item ``index`` of a request was rejected."""

    index: int
    field: str
    reason: str


@dataclass(slots=True)
class DecodedBody:
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


def check_incoming(event: IncomingEvent) -> None:
    """Raise ``ValidationError`` unless ``event`` keeps the contract, carries no address in
    an id or enum field, and has an identity key."""
    check_event(event)
    refuse_addresses(event)
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


def _as_utc(document: Any) -> Any:
    """``document`` with naive ``timestamp``/``send_time`` texts marked as UTC."""
    if not isinstance(document, dict):
        return document
    for name in _NAIVE_FIELDS:
        text = document.get(name)
        if isinstance(text, str):
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                continue
            if parsed.tzinfo is None:
                document[name] = text + "+00:00"
    return document


def decode_one(raw: bytes | msgspec.Raw, *, naive_utc: bool = False) -> IncomingEvent:
    """Decode and check one event; raises ``ValidationError`` (or ``BadBody`` for bad JSON).

    ``naive_utc``: a ``timestamp``/``send_time`` without a zone is read as UTC (the seed
    client's habit) instead of being refused.
    """
    try:
        event = _item_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        if not naive_utc:
            raise ValidationError(*explain_validation(exc)) from None
        try:
            event = msgspec.convert(_as_utc(msgspec.json.decode(raw)), IncomingEvent)
        except msgspec.ValidationError as again:
            raise ValidationError(*explain_validation(again)) from None
    except msgspec.DecodeError as exc:
        raise BadBody("$", f"invalid JSON: {exc}") from None
    except RecursionError:
        raise too_deep() from None
    check_incoming(event)
    return event


def split_array(body: bytes) -> list[bytes]:
    """The items of a JSON array as texts, found without recursion (for bodies whose
    nesting the decoder refuses); raises ``BadBody`` when ``body`` is no array."""
    items: list[bytes] = []
    depth = 0
    start = -1
    for match in _TOKENS.finditer(body):
        token = match.group()
        if token[:1] == b'"':
            continue
        if token in (b"[", b"{"):
            depth += 1
            if depth == 1:
                if token != b"[":
                    break
                start = match.end()
        elif token in (b"]", b"}"):
            depth -= 1
            if depth == 0:
                if body[start : match.start()].strip():
                    items.append(body[start : match.start()])
                if body[match.end() :].strip():
                    raise BadBody("$", "invalid JSON: trailing characters")
                return items
            if depth < 0:
                break
        elif depth == 1:  # a comma between two items
            items.append(body[start : match.start()])
            start = match.end()
    raise BadBody("$", "invalid JSON: not a complete array")


def _items(body: bytes, max_events: int) -> list[msgspec.Raw] | list[bytes]:
    stripped = body.lstrip()
    if not stripped:
        raise BadBody("$", "empty body")
    if stripped[:1] == b"[":
        try:
            items = _array_decoder.decode(body)
        except msgspec.DecodeError as exc:
            raise BadBody("$", f"invalid JSON: {exc}") from None
        except RecursionError:
            # An item nests deeper than the decoder goes: split without it, so the
            # other items are judged on their own.
            split = split_array(body)
            if len(split) > max_events:
                raise TooLarge("$", f"more than {max_events} events in one request") from None
            return split
    else:
        lines = [line for line in body.splitlines() if line.strip()]
        items_b: list[bytes] = lines
        if len(items_b) > max_events:
            raise TooLarge("$", f"more than {max_events} events in one request")
        return items_b
    if len(items) > max_events:
        raise TooLarge("$", f"more than {max_events} events in one request")
    return items


def _checked(events: list[IncomingEvent]) -> DecodedBody:
    decoded = DecodedBody([], [])
    for index, event in enumerate(events):
        try:
            check_incoming(event)
        except ValidationError as exc:
            decoded.rejected.append(Rejection(index, exc.field, exc.reason))
        else:
            decoded.events.append((index, event))
    return decoded


def decode_body(body: bytes, *, max_events: int) -> DecodedBody:
    """Split ``body`` into valid events and per-item rejections.

    Raises ``BadBody`` for a body that is not JSON/NDJSON (a NDJSON line that is
    not JSON counts as bad JSON for the whole body) and ``TooLarge`` beyond
    ``max_events``; an empty batch is a ``BadBody`` too.
    """
    if body.lstrip()[:1] == b"[":
        # Fast path: a fully valid array decodes in one call; otherwise go item by item.
        try:
            events = _batch_decoder.decode(body)
        except (msgspec.DecodeError, RecursionError):  # ValidationError is a DecodeError
            pass
        else:
            if len(events) > max_events:
                raise TooLarge("$", f"more than {max_events} events in one request")
            if events:
                return _checked(events)
    items = _items(body, max_events)
    if not items:
        raise BadBody("$", "no events in the request")
    decoded = DecodedBody([], [])
    for index, raw in enumerate(items):
        try:
            decoded.events.append((index, decode_one(raw)))
        except BadBody:
            raise
        except ValidationError as exc:
            decoded.rejected.append(Rejection(index, exc.field, exc.reason))
    return decoded
