"""events_to_columns and the Arrow encoding of the insert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest

from sendflowr.errors import ConfigError
from sendflowr.sink.arrow import arrow_type, columns_to_arrow
from sendflowr.sink.faults import FaultHook
from sendflowr.store.rows import events_to_columns
from sendflowr.store.schema import EVENT_COLUMN_NAMES, EVENT_COLUMNS
from tests.unit.sink.factory import make_events

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_columns_follow_the_table_and_fill_ingested_at_and_metadata() -> None:
    events = make_events(3)
    events[0].metadata = {}
    events[1].ingested_at = NOW - timedelta(days=1)
    columns = events_to_columns(events, NOW)
    assert tuple(columns) == EVENT_COLUMN_NAMES
    assert columns["event_id"] == [e.event_id for e in events]
    assert columns["ingested_at"] == [NOW, NOW - timedelta(days=1), NOW]
    assert columns["metadata"][0] == "{}"
    assert columns["metadata"][1] == '{"persona":"morning_person","channel":"email"}'
    assert events_to_columns([], NOW) == {name: [] for name in EVENT_COLUMN_NAMES}


def test_every_table_column_has_an_arrow_type() -> None:
    for _name, clickhouse_type in EVENT_COLUMNS:
        arrow_type(clickhouse_type)
    with pytest.raises(ValueError):
        arrow_type("Map(String, String)")


def test_arrow_stream_keeps_values_and_converts_time_to_utc_ms() -> None:
    events = make_events(2)
    east = timezone(timedelta(hours=2))
    events[0].timestamp = datetime(2025, 10, 1, 14, 0, 0, 123456, tzinfo=east)
    table = pa.ipc.open_stream(columns_to_arrow(events_to_columns(events, NOW))).read_all()
    assert table.num_rows == 2
    assert table.column("timestamp")[0].as_py() == datetime(
        2025, 10, 1, 12, 0, 0, 123000, tzinfo=UTC
    )
    assert table.column("subject").to_pylist() == [e.subject for e in events]


def test_a_value_too_large_for_its_column_raises_value_error() -> None:
    events = make_events(1)
    events[0].queue_depth_estimate = 2**32
    with pytest.raises(ValueError):
        columns_to_arrow(events_to_columns(events, NOW))


def test_fault_specs() -> None:
    assert FaultHook.parse(None).point is None
    hook = FaultHook.parse("after-insert:2")
    assert (hook.point, hook.at) == ("after-insert", 2)
    hook.hit("after-intent")  # another point: not counted
    assert hook.hits == 0
    for bad in ("after-lunch:1", "after-insert", "after-insert:0", "after-insert:x"):
        with pytest.raises(ConfigError):
            FaultHook.parse(bad)
