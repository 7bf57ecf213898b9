"""Event ids: every stored event has a UUID, and the same event always gets the same one.

- An ``event_id`` that is a UUID (any spelling ``uuid.UUID`` reads) is kept, written
  in its canonical lowercase form.
- Any other ``event_id`` is the provider's own id (SendGrid's base64 ``sg_event_id``,
  a Klaviyo ULID or short id, …): it is kept as ``metadata.provider_event_id`` and the
  event id is ``uuid5(PROVIDER_NAMESPACE, "<esp>:<provider id>")`` — deterministic, so
  a replayed webhook maps to the same id and the sink stores it once.
- An event without any id gets ``uuid5(CONTENT_NAMESPACE, <its JSON, keys sorted>)``:
  the same content always gets the same id, so a resent request adds no row.
"""

from __future__ import annotations

import re
from typing import Final
from uuid import UUID, uuid5

import msgspec

from sendflowr.events import IncomingEvent

__all__ = ["CONTENT_NAMESPACE", "PROVIDER_NAMESPACE", "derive_event_id"]

#: Namespace of ids derived from a provider's own event id.
PROVIDER_NAMESPACE: Final = UUID("6f1c2d4e-3b5a-5e7f-9a0b-1c2d3e4f5a6b")
#: Namespace of ids derived from an event's content.
CONTENT_NAMESPACE: Final = UUID("0b7e1f3a-8c2d-5a4e-b6f9-2d3c4b5a6e7f")
_encode: Final = msgspec.json.Encoder(order="sorted").encode
_CANONICAL_UUID: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z"
)


def derive_event_id(event: IncomingEvent) -> tuple[str, str]:
    """``(event_id, provider_event_id)`` of ``event``; the second is ``""`` unless the
    sender's id was not a UUID."""
    given = event.event_id
    if _CANONICAL_UUID.match(given):  # the common case: a generator's UUIDv7
        return given, ""
    given = given.strip()
    if not given:
        return str(uuid5(CONTENT_NAMESPACE, _encode(event).decode())), ""
    try:
        return str(UUID(given)), ""
    except ValueError:
        provider = event.esp.strip().lower()
        return str(uuid5(PROVIDER_NAMESPACE, f"{provider}:{given}")), given
