"""MemorySource's incremental contract, and the evidence helpers behind it."""

from __future__ import annotations

import numpy as np

from sendflowr.timing.curves import Evidence
from sendflowr.timing.sources import MemorySource, merge, subset
from tests.unit.timing.synthetic import history


def _rows(ev: Evidence) -> list[tuple[str, int, bool, bool]]:
    rows = zip(ev.user_index, ev.delivered_minute, ev.clicked, ev.opened, strict=True)
    return sorted((ev.universal_ids[u], int(m), bool(c), bool(o)) for u, m, c, o in rows)


def _with_activity(ev: Evidence) -> Evidence:
    users = np.arange(len(ev.universal_ids), dtype=np.int64)
    return Evidence(
        ev.universal_ids,
        ev.user_index,
        ev.delivered_minute,
        ev.clicked,
        ev.opened,
        activity_index=users,
        activity_minute=1000 + users,
    )


def test_subset_keeps_the_rows_of_the_users_asked_for_in_evidence_order() -> None:
    ev, _ = history({"a": (9,), "b": (18,), "c": (12,)}, weeks=2)
    ev = _with_activity(ev)
    part = subset(ev, ["c", "a", "nobody"])
    assert part.universal_ids == ["a", "c"]
    assert _rows(part) == [r for r in _rows(ev) if r[0] in {"a", "c"}]
    assert [part.universal_ids[u] for u in part.activity_index] == ["a", "c"]
    assert subset(ev, []).size == 0


def test_merge_appends_rows_and_new_users() -> None:
    first, _ = history({"a": (9,), "b": (18,)}, weeks=1)
    second, _ = history({"b": (10,), "c": (20,)}, weeks=1, seed=8)
    both = merge(first, second)
    assert both.universal_ids == ["a", "b", "c"]
    assert _rows(both) == sorted(_rows(first) + _rows(second))


def test_memory_source_reports_the_users_of_each_addition() -> None:
    ev, end = history({"a": (9,), "b": (18,)}, weeks=2)
    source = MemorySource(ev)
    changed, watermark = source.changed_since(0)
    assert sorted(changed) == ["a", "b"]
    assert source.changed_since(watermark) == ([], watermark)
    more, _ = history({"b": (11,), "c": (7,)}, weeks=1, seed=9)
    source.add(more)
    changed, later = source.changed_since(watermark)
    assert sorted(changed) == ["b", "c"] and later > watermark
    full = source.evidence(end)
    assert full.universal_ids == ["a", "b", "c"]
    assert _rows(source.evidence(end, ["c", "b"])) == _rows(subset(full, ["b", "c"]))


def test_memory_source_reads_given_zones_for_added_users_too() -> None:
    ev, end = history({"a": (9,)}, weeks=1)
    source = MemorySource(ev, zones={"a": "Asia/Tokyo"})
    more, _ = history({"b": (9,)}, weeks=1)
    source.add(more, zones={"b": "America/New_York"})
    shifted = _rows(source.evidence(end))
    utc = _rows(merge(ev, more))
    tokyo = {m + 540 for u, m, *_ in utc if u == "a"}
    assert {m for u, m, *_ in shifted if u == "a"} == tokyo
    zone = source.zone_of("b")
    assert zone is not None and zone.name == "America/New_York"
