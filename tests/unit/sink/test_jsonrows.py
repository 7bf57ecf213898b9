"""JSONEachRow blocks: every column, orjson's metadata text, ingested_at filled."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from sendflowr.sink.jsonrows import JSON_COLUMNS, StoredEvent, encode_rows
from sendflowr.store.schema import EVENT_COLUMN_NAMES
from tests.unit.sink.factory import make_events

NOW = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def _lines(data: bytes) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in data.splitlines()]


def test_every_column_is_written_defaults_included() -> None:
    events = make_events(3)
    events[0].metadata = {}
    events[1].ingested_at = datetime(2025, 1, 1, tzinfo=UTC)
    rows = _lines(encode_rows(events, NOW))
    assert all(sorted(row) == sorted(EVENT_COLUMN_NAMES) for row in rows)
    assert sorted(StoredEvent.__struct_fields__) == sorted(JSON_COLUMNS)
    assert rows[0]["channel"] == "email" and rows[0]["metadata"] == {}
    assert [r["ingested_at"] for r in rows] == [
        "2026-01-02T03:04:05.678000Z",
        "2025-01-01T00:00:00Z",
        "2026-01-02T03:04:05.678000Z",
    ]


@pytest.mark.parametrize("floats", [False, True])
def test_metadata_is_embedded_as_orjson_writes_it(floats: bool) -> None:
    events = make_events(2)
    if floats:
        events[1].metadata = {"big": 1.5e300, "small": 1e-7}
    data = encode_rows(events, NOW)
    for line, event in zip(data.splitlines(), events, strict=True):
        assert b'"metadata":' + orjson.dumps(event.metadata) + b"," in line


def test_overflow_is_refused() -> None:
    events = make_events(2)
    assert len(encode_rows(events, NOW).splitlines()) == 2
    events[1].queue_depth_estimate = 2**32
    with pytest.raises(OverflowError):
        encode_rows(events, NOW)
