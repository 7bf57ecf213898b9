"""Tests' shortcut into the store: canonical events → the columns of ``email_events``.

The product stores events through the sink (``sink.loadsql``); tests that only need
rows in the table insert them in one columnar insert with this.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import msgspec
import orjson

from sendflowr.events import CanonicalEvent
from sendflowr.store.schema import EVENT_COLUMN_NAMES

__all__ = ["events_to_columns"]

_FIELD_INDEX: Final = {name: i for i, name in enumerate(CanonicalEvent.__struct_fields__)}
_EMPTY_METADATA: Final = "{}"


def events_to_columns(
    events: Sequence[CanonicalEvent], ingested_at: datetime
) -> dict[str, list[Any]]:
    """Columns for ``store.insert_columns('email_events', …)``, in table order.

    ``event_id`` is the UUID text as the event carries it; ``ingested_at``
    fills events that do not carry one; ``metadata`` is stored as a JSON
    object text.
    """
    if not events:
        return {name: [] for name in EVENT_COLUMN_NAMES}
    fields = list(zip(*map(msgspec.structs.astuple, events), strict=True))
    columns: dict[str, list[Any]] = {}
    dumps = orjson.dumps
    for name in EVENT_COLUMN_NAMES:
        values = fields[_FIELD_INDEX[name]]
        if name == "metadata":
            columns[name] = [dumps(m).decode() if m else _EMPTY_METADATA for m in values]
        elif name == "ingested_at":
            columns[name] = [v or ingested_at for v in values]
        else:
            columns[name] = list(values)
    return columns
