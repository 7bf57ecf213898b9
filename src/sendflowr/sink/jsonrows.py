"""Canonical events → one ``JSONEachRow`` block, the sink's default insert format.

ClickHouse parses JSON in C++ (and chDB releases the GIL while it does), so
Python encodes each chunk with one msgspec call (~1 µs a row) instead of
building columns and an Arrow table (~5 µs). Every column holds exactly what
the Arrow path (``sink.arrow``) stores:

- ``StoredEvent`` encodes every field, defaults included (``channel`` is
  ``"email"`` by default, which an omitted field would store as ``''``);
- ``metadata`` is embedded as the text ``orjson.dumps`` gives (as
  ``store.rows.events_to_columns`` does) and read back as that text
  (``input_format_json_read_objects_as_strings``);
- ``ingested_at`` fills events that carry none;
- timestamps are RFC 3339 texts (any offset, µs) that ``best_effort`` parsing
  turns into the same DateTime64(3) as Arrow; floats parse exactly
  (``precise_float_parsing``).

``JSONCompactEachRow`` (arrays, no key matching) parses ~20 % faster in
ClickHouse, but building the arrays costs Python ~2 µs a row more, and the
sink's Python thread is its bottleneck.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import msgspec
import orjson

from sendflowr.events import CanonicalEvent
from sendflowr.store.schema import EVENT_COLUMN_NAMES

__all__ = ["JSON_COLUMNS", "JSON_FORMAT", "JSON_SETTINGS", "StoredEvent", "encode_rows"]

JSON_FORMAT: Final = "JSONEachRow"
#: The columns an insert of ``encode_rows`` output names (every field of ``StoredEvent``).
JSON_COLUMNS: Final = EVENT_COLUMN_NAMES
#: ClickHouse settings of a ``JSON_FORMAT`` insert of ``encode_rows`` output.
JSON_SETTINGS: Final[dict[str, Any]] = {
    "input_format_json_read_objects_as_strings": 1,
    "date_time_input_format": "best_effort",
    "precise_float_parsing": 1,
    "input_format_skip_unknown_fields": 0,
    # One block per insert: splitting it over threads costs more than it saves.
    "input_format_parallel_parsing": 0,
}
_EMPTY: Final = msgspec.Raw(b"{}")
_UINT32_MAX: Final = 2**32 - 1


class StoredEvent(CanonicalEvent, kw_only=True, omit_defaults=False):
    """A ``CanonicalEvent`` whose JSON carries every field (one per ``email_events`` column).

    The sink decodes Kafka values straight into this type (``sink.records``) so that
    encoding a row needs no conversion.
    """


_encoder = msgspec.json.Encoder()


def _stored(event: CanonicalEvent) -> StoredEvent:
    if isinstance(event, StoredEvent):
        return event
    return StoredEvent(**msgspec.structs.asdict(event))


def encode_rows(events: Sequence[CanonicalEvent], ingested_at: datetime) -> bytes:
    """One ``JSON_FORMAT`` block of ``events``; ``ingested_at`` fills (in place) the events
    that carry none.

    Raises ``TypeError`` or ``ValueError`` for a value that cannot be stored (e.g. an
    integer beyond 64 bits in metadata, 2**32 for a UInt32 column), as the Arrow path
    does.
    """
    rows = [_stored(e) for e in events]
    for row in rows:
        if row.ingested_at is None:
            row.ingested_at = ingested_at
        payload, depth = row.payload_size_bytes, row.queue_depth_estimate
        if (payload is not None and not 0 <= payload <= _UINT32_MAX) or (
            depth is not None and not 0 <= depth <= _UINT32_MAX
        ):
            # ClickHouse would wrap it; Arrow refuses it: refuse it here too.
            raise OverflowError("payload_size_bytes or queue_depth_estimate beyond UInt32")
    if _metadata_texts_agree(rows):
        return _encoder.encode_lines(rows)
    return _encoder.encode_lines([_with_orjson_metadata(row) for row in rows])


def _metadata_texts_agree(events: Sequence[CanonicalEvent]) -> bool:
    """Whether msgspec writes every event's metadata as ``orjson.dumps`` does (one bulk
    comparison: they differ only in rare spellings, e.g. ``1e300`` vs ``1e+300``)."""
    metadata = [event.metadata for event in events]
    return bool(orjson.dumps(metadata) == _encoder.encode(metadata))


def _with_orjson_metadata(row: StoredEvent) -> StoredEvent:
    """A copy of ``row`` whose metadata is embedded as ``orjson.dumps``'s text."""
    metadata = msgspec.Raw(orjson.dumps(row.metadata)) if row.metadata else _EMPTY
    return msgspec.structs.replace(row, metadata=metadata)
