"""The one validation contract: whatever the connector acknowledges, the sink stores.

The connector runs these checks on every event before Kafka's acknowledgement is
reported to the client (a violation is a 422 for that event alone); the sink runs
the same checks on every record it decodes (a violation is a dead letter with the
same reason: a record that bypassed the connector). The rules:

- ``event_type`` and ``channel`` belong to the vocabulary;
- ``timestamp``, ``send_time`` and ``ingested_at`` fall in the years 1900–2299 once
  converted to UTC, whatever their offset (what a ``DateTime64(3)`` column holds);
- ``payload_size_bytes`` and ``queue_depth_estimate`` lie in 0…2³²−1 (``UInt32``;
  enforced by the ``events`` types at decode time);
- ``metadata`` is at most ``MAX_METADATA_DEPTH`` containers deep and its JSON text at
  most ``MAX_METADATA_BYTES`` bytes — checked by an iterative walk, never recursion;
- a canonical event's ``event_id`` is a UUID and its ``universal_id`` is not empty.

Each check raises ``ValidationError`` naming the field; ``canonical_problem`` returns
the reason as text for the sink's dead letters.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

import msgspec

from sendflowr.errors import ValidationError
from sendflowr.events import CHANNELS, EVENT_TYPES, UINT32_MAX, CanonicalEvent, IncomingEvent

__all__ = [
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_YEAR",
    "MIN_YEAR",
    "UINT32_MAX",
    "canonical_problem",
    "check_canonical",
    "check_event",
    "in_range",
    "metadata_problem",
    "too_deep",
]

MIN_YEAR: Final = 1900
MAX_YEAR: Final = 2299
#: Containers (objects, arrays) nested inside ``metadata``, itself counting as 1.
MAX_METADATA_DEPTH: Final = 32
#: JSON text of ``metadata``, in bytes.
MAX_METADATA_BYTES: Final = 16_384
_CHANNELS: Final = frozenset(CHANNELS)
_encode: Final = msgspec.json.encode
_DEEPER: Final = f"nested deeper than {MAX_METADATA_DEPTH} levels"
_LARGER: Final = f"larger than {MAX_METADATA_BYTES} bytes of JSON"
_CANONICAL_UUID: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
)


def too_deep() -> ValidationError:
    """The error of a value nested deeper than the decoder (or the contract) allows."""
    return ValidationError("metadata", _DEEPER)


def in_range(moment: datetime) -> bool:
    """Whether ``moment`` (any offset) falls in the years 1900–2299 in UTC."""
    if MIN_YEAR < moment.year < MAX_YEAR:  # no offset (< 1 day) can move it out
        return True
    try:
        return MIN_YEAR <= moment.astimezone(UTC).year <= MAX_YEAR
    except (OverflowError, ValueError):  # e.g. 0001-01-01T00:00+05:00 is before year 1 in UTC
        return False


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` deep (iterative walk)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def metadata_problem(metadata: Any) -> str | None:
    """Why ``metadata`` breaks the contract (depth, size, type), or None."""
    if not metadata:
        return None
    if not isinstance(metadata, dict):
        return "must be a JSON object"
    try:
        encoded = _encode(metadata)
    except RecursionError:
        return _DEEPER
    # Only a text with more brackets than the bound can be too deep: walk just those.
    if encoded.count(b"{") + encoded.count(b"[") > MAX_METADATA_DEPTH and _depth_exceeds(
        metadata, MAX_METADATA_DEPTH
    ):
        return _DEEPER
    if len(encoded) > MAX_METADATA_BYTES:
        return _LARGER
    return None


def check_event(event: IncomingEvent | CanonicalEvent) -> None:
    """Raise ``ValidationError`` unless ``event`` keeps the contract's common rules."""
    if event.event_type not in EVENT_TYPES:
        raise ValidationError("event_type", "unknown event type")
    if event.channel not in _CHANNELS:
        raise ValidationError("channel", f"unknown channel (one of {', '.join(CHANNELS)})")
    if not in_range(event.timestamp):
        raise _out_of_range("timestamp")
    if event.send_time is not None and not in_range(event.send_time):
        raise _out_of_range("send_time")
    ingested = getattr(event, "ingested_at", None)
    if ingested is not None and not in_range(ingested):
        raise _out_of_range("ingested_at")
    # The decoders enforce these bounds; events built in Python are checked here.
    for name in ("payload_size_bytes", "queue_depth_estimate"):
        count = getattr(event, name)
        if count is not None and not 0 <= count <= UINT32_MAX:
            raise ValidationError(name, f"must be within 0..{UINT32_MAX}")
    if event.metadata:
        problem = metadata_problem(event.metadata)
        if problem is not None:
            raise ValidationError("metadata", problem)


def _out_of_range(field: str) -> ValidationError:
    return ValidationError(field, f"must fall in the years {MIN_YEAR}-{MAX_YEAR} (UTC)")


def check_canonical(event: CanonicalEvent, *, made_from: IncomingEvent | None = None) -> None:
    """``check_event`` plus what only a published event carries: a UUID id, a universal id.

    ``made_from``: the incoming event ``event`` was made from, which already passed
    ``check_event``; then only what making it can change (metadata) is checked again.
    """
    if made_from is None:
        check_event(event)
    elif event.metadata is not made_from.metadata:
        problem = metadata_problem(event.metadata)
        if problem is not None:
            raise ValidationError("metadata", problem)
    if not event.universal_id:
        raise ValidationError("universal_id", "is empty")
    if _CANONICAL_UUID.match(event.event_id):
        return
    try:
        UUID(event.event_id)
    except ValueError:
        raise ValidationError("event_id", "is not a UUID") from None


def canonical_problem(event: CanonicalEvent) -> str | None:
    """``check_canonical``'s verdict as text (``field: reason``), or None when it holds."""
    try:
        check_canonical(event)
    except ValidationError as exc:
        return str(exc)
    return None
