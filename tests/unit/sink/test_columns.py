"""events_to_columns (the tests' columnar insert) and the fault hook specs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sendflowr.errors import ConfigError
from sendflowr.sink.faults import FaultHook
from sendflowr.store.schema import EVENT_COLUMN_NAMES
from tests.store_support import events_to_columns
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


def test_fault_specs() -> None:
    assert FaultHook.parse(None).point is None
    hook = FaultHook.parse("after-insert:2")
    assert (hook.point, hook.at) == ("after-insert", 2)
    hook.hit("after-intent")  # another point: not counted
    assert hook.hits == 0
    for bad in ("after-lunch:1", "after-insert", "after-insert:0", "after-insert:x"):
        with pytest.raises(ConfigError):
            FaultHook.parse(bad)
