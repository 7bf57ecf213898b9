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
_TIME_FIELDS: Final = ("timestamp", "send_time", "ingested_at")
_encode: Final = msgspec.json.encode


def too_deep() -> ValidationError:
    """The error of a value nested deeper than the decoder (or the contract) allows."""
    return ValidationError("metadata", f"nested deeper than {MAX_METADATA_DEPTH} levels")


def in_range(moment: datetime) -> bool:
    """Whether ``moment`` (any offset) falls in the years 1900–2299 in UTC."""
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
    if _depth_exceeds(metadata, MAX_METADATA_DEPTH):
        return f"nested deeper than {MAX_METADATA_DEPTH} levels"
    if len(_encode(metadata)) > MAX_METADATA_BYTES:
        return f"larger than {MAX_METADATA_BYTES} bytes of JSON"
    return None


def check_event(event: IncomingEvent | CanonicalEvent) -> None:
    """Raise ``ValidationError`` unless ``event`` keeps the contract's common rules."""
    if event.event_type not in EVENT_TYPES:
        raise ValidationError("event_type", "unknown event type")
    if event.channel not in _CHANNELS:
        raise ValidationError("channel", f"unknown channel (one of {', '.join(CHANNELS)})")
    for name in _TIME_FIELDS:
        moment = getattr(event, name, None)
        if moment is not None and not in_range(moment):
            raise ValidationError(name, f"must fall in the years {MIN_YEAR}-{MAX_YEAR} (UTC)")
    for name in ("payload_size_bytes", "queue_depth_estimate"):
        count = getattr(event, name)
        if count is not None and not 0 <= count <= UINT32_MAX:
            raise ValidationError(name, f"must be within 0..{UINT32_MAX}")
    problem = metadata_problem(event.metadata)
    if problem is not None:
        raise ValidationError("metadata", problem)


def check_canonical(event: CanonicalEvent) -> None:
    """``check_event`` plus what only a published event carries: a UUID id, a universal id."""
    check_event(event)
    if not event.universal_id:
        raise ValidationError("universal_id", "is empty")
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
