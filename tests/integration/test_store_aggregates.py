"""The evidence aggregates (materialized views) against the raw join they replace.

Every test runs on the embedded engine and on the server path (clickhouse-connect
with a ``chdb://`` DSN, as ``CLICKHOUSE_URL`` would give): the same DDL, views and
reads. ``RawStoreSource`` (joins over ``email_events`` at read time) is the
definition the aggregated ``StoreSource`` must match.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from sendflowr.events import CanonicalEvent, uuid7
from sendflowr.generator import generate_canonical
from sendflowr.store import ClickHouseStore
from sendflowr.store.schema import EVENTS_TABLE, VIEWS
from sendflowr.timing.curves import CurveConfig, Evidence, fit_curves
from sendflowr.timing.grid import epoch_minute
from sendflowr.timing.raw_source import RawStoreSource
from sendflowr.timing.sources import StoreSource, subset
from tests.conftest import unique_name
from tests.store_support import events_to_columns

NOW = datetime(2026, 1, 11, tzinfo=UTC)
MINUTE = epoch_minute(NOW)


@pytest.fixture(params=["embedded", "url"])
def agg_store(request: pytest.FixtureRequest, make_settings: Any) -> Iterator[ClickHouseStore]:
    """A started store with a database of its own, embedded or through a chDB DSN."""
    database = unique_name("agg")
    settings = make_settings(clickhouse_database=database)
    if request.param == "url":
        path = make_settings().clickhouse_path.resolve()
        settings = make_settings(clickhouse_url=f"chdb://{path}", clickhouse_database=database)
    store = ClickHouseStore(settings)
    store.start()
    assert store.embedded == (request.param == "embedded")
    try:
        yield store
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{database}`")
        store.stop()


def _event(event_type: str, uid: str, at: datetime, **kw: Any) -> CanonicalEvent:
    return CanonicalEvent(
        event_id=uuid7(at), event_type=event_type, timestamp=at, universal_id=uid, **kw
    )


def _load(store: ClickHouseStore, events: list[CanonicalEvent], token: str | None = None) -> None:
    store.insert_columns(EVENTS_TABLE, events_to_columns(events, NOW), dedup_token=token)


def _rows(ev: Evidence) -> list[tuple[str, int, bool, bool]]:
    rows = zip(ev.user_index, ev.delivered_minute, ev.clicked, ev.opened, strict=True)
    return sorted((ev.universal_ids[u], int(m), bool(c), bool(o)) for u, m, c, o in rows)


def _activity(ev: Evidence) -> list[tuple[str, int]]:
    pairs = zip(ev.activity_index, ev.activity_minute, strict=True)
    return sorted((ev.universal_ids[u], int(m)) for u, m in pairs)


def _assert_same(got: Evidence, want: Evidence) -> None:
    assert got.universal_ids == want.universal_ids
    assert _rows(got) == _rows(want)
    assert _activity(got) == _activity(want)


def _engaged(source: StoreSource, ev: Evidence) -> list[tuple[str, int]]:
    users, minutes = source.engaged(ev, MINUTE)
    return sorted((ev.universal_ids[u], int(m)) for u, m in zip(users, minutes, strict=True))


def test_aggregated_evidence_and_curves_equal_the_raw_join(agg_store: ClickHouseStore) -> None:
    events = generate_canonical(seed=11, users=60)
    cut = len(events) // 2  # two inserts: the views aggregate each block on its own
    _load(agg_store, events[:cut], "a")
    _load(agg_store, events[cut:], "b")
    minute = epoch_minute(max(e.timestamp for e in events)) - 7 * 1440  # some events are later
    aggregated, raw = StoreSource(agg_store), RawStoreSource(agg_store)
    utc, utc_raw = aggregated.utc_evidence(minute), raw.utc_evidence(minute)
    assert len(utc.universal_ids) > 40 and utc.activity_minute.size > 0
    assert utc.clicked.any() and utc.opened.any() and not utc.opened.all()
    _assert_same(utc, utc_raw)
    assert _engaged(aggregated, utc) == _engaged(raw, utc_raw)
    assert aggregated.stored_zones(minute) == raw.stored_zones(minute)
    local, local_raw = aggregated.evidence(minute), raw.evidence(minute)
    _assert_same(local, local_raw)
    config = CurveConfig()
    model, model_raw = (
        fit_curves(local, minute, config, "a"),
        fit_curves(local_raw, minute, config, "r"),
    )
    assert model.universal_ids == model_raw.universal_ids
    rows = model.rows(model.universal_ids)
    np.testing.assert_allclose(model.curves(rows), model_raw.curves(rows), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.exposures, model_raw.exposures)
    np.testing.assert_allclose(model.engagement, model_raw.engagement)


def test_rows_are_right_however_the_events_arrive(agg_store: ClickHouseStore) -> None:
    for spec in VIEWS:  # every insert stays a part of its own: the reads must merge them
        agg_store.command(f"SYSTEM STOP MERGES `{agg_store.database}`.`{spec.target}`")
    t = NOW - timedelta(days=2)
    proxy = "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"
    click = _event("clicked", "sf_a", t + timedelta(minutes=9), message_id="m1")
    _load(agg_store, [click], "early-click")  # before its delivery
    _load(agg_store, [_event("delivered", "sf_a", t, message_id="m1")], "late-delivery")
    block = [
        _event("opened", "sf_a", t + timedelta(minutes=5), message_id="m1"),
        _event("delivered", "sf_a", t + timedelta(hours=1), message_id="m2"),
        _event("opened", "sf_a", t + timedelta(hours=2), message_id="m2", user_agent=proxy),
        _event("delivered", "sf_b", t, message_id="m3"),
        _event("opened", "sf_b", t + timedelta(minutes=1), message_id="m3"),
        _event("clicked", "sf_b", NOW + timedelta(minutes=5), message_id="m3"),  # after now
        _event("delivered", "sf_b", NOW + timedelta(hours=1), message_id="m4"),  # the future
        _event("site_visit", "sf_b", t + timedelta(minutes=30)),
        _event("site_visit", "sf_b", t + timedelta(minutes=30, seconds=20)),  # same minute
        _event("site_visit", "sf_c", t),  # no deliveries: not in the evidence
    ]
    _load(agg_store, block, "block")
    _load(agg_store, block, "block")  # a replay: dropped by email_events, and by the views
    visit = [_event("site_visit", "sf_b", t + timedelta(minutes=40))]
    _load(agg_store, visit)
    _load(agg_store, visit)  # the same block without a token: dropped by its data's hash
    assert agg_store.count_events() == 13
    source = StoreSource(agg_store)
    ev = source.utc_evidence(MINUTE)
    assert _rows(ev) == [
        ("sf_a", epoch_minute(t), True, True),
        ("sf_a", epoch_minute(t) + 60, False, False),  # a proxy open is not a human open
        ("sf_b", epoch_minute(t), False, True),
    ]
    assert _activity(ev) == [("sf_b", epoch_minute(t) + 30)] * 2 + [("sf_b", epoch_minute(t) + 40)]
    assert _engaged(source, ev) == [("sf_a", epoch_minute(t) + 5), ("sf_b", epoch_minute(t) + 1)]
    _assert_same(ev, RawStoreSource(agg_store).utc_evidence(MINUTE))
    parts = agg_store.query(
        "SELECT count() FROM system.parts WHERE active AND database = {db:String} "
        "AND table = 'message_outcomes'",
        {"db": agg_store.database},
    ).scalar()
    assert parts >= 3
    later = source.utc_evidence(MINUTE + 120)
    assert ("sf_b", epoch_minute(t), True, True) in _rows(later)
    assert ("sf_b", MINUTE + 60, False, False) in _rows(later)


def test_some_users_evidence_is_the_full_evidence_sliced(agg_store: ClickHouseStore) -> None:
    events = generate_canonical(seed=3, users=30)
    _load(agg_store, events)
    minute = epoch_minute(max(e.timestamp for e in events))
    source = StoreSource(agg_store)
    full = source.evidence(minute)
    ids = full.universal_ids[::3] + ["sf_nobody"]
    zones = {u: source.zone_of(u) for u in full.universal_ids}
    part = source.evidence(minute, ids)
    _assert_same(part, subset(full, ids))
    assert part.universal_ids == full.universal_ids[::3]
    assert {u: source.zone_of(u) for u in full.universal_ids} == zones


def test_changed_since_names_the_recipients_with_new_evidence(agg_store: ClickHouseStore) -> None:
    t = NOW - timedelta(days=1)
    _load(
        agg_store,
        [
            _event("delivered", "sf_a", t, message_id="a1"),
            _event("site_visit", "sf_b", t),
            _event("sent", "sf_c", t, message_id="c1"),  # not evidence
        ],
    )
    source = StoreSource(agg_store, settle_ms=0)
    changed, watermark = source.changed_since(0)
    assert changed == ["sf_a", "sf_b"] and watermark > 0
    assert source.changed_since(watermark) == ([], watermark)
    _load(agg_store, [_event("clicked", "sf_b", t + timedelta(minutes=2), message_id="b1")])
    changed, later = source.changed_since(watermark)
    assert changed == ["sf_b"] and later > watermark


def test_an_existing_database_gains_the_aggregates_once(agg_store: ClickHouseStore) -> None:
    t = NOW - timedelta(days=1)
    _load(
        agg_store,
        [
            _event("site_visit", "sf_a", t),
            _event("delivered", "sf_a", t, message_id="a1"),
            _event(
                "clicked", "sf_a", t + timedelta(minutes=1), message_id="a1", timezone="Asia/Tokyo"
            ),
        ],
    )
    db = f"`{agg_store.database}`"
    for view in VIEWS:  # back to a database made before the aggregates
        agg_store.command(f"DROP VIEW {db}.`{view.name}`")
        agg_store.command(f"DROP TABLE {db}.`{view.target}`")
    agg_store.migrate()
    agg_store.migrate()  # a second run neither fills nor counts again
    source = StoreSource(agg_store, settle_ms=0)
    ev = source.utc_evidence(MINUTE)
    assert _rows(ev) == [("sf_a", epoch_minute(t), True, False)]
    assert _activity(ev) == [("sf_a", epoch_minute(t))]
    assert source.stored_zones(MINUTE) == {"sf_a": "Asia/Tokyo"}
    assert source.changed_since(0)[0] == ["sf_a"]
    _assert_same(ev, RawStoreSource(agg_store).utc_evidence(MINUTE))
    _load(agg_store, [_event("site_visit", "sf_a", t + timedelta(minutes=3))])  # views work
    assert len(source.utc_evidence(MINUTE).activity_minute) == 2


def test_an_empty_store_and_an_empty_list_read_no_evidence(agg_store: ClickHouseStore) -> None:
    source = StoreSource(agg_store)
    assert source.evidence(MINUTE).universal_ids == []
    assert source.changed_since(0) == ([], 0)
    _load(agg_store, [_event("delivered", "sf_a", NOW - timedelta(days=1), message_id="a1")])
    empty = source.evidence(MINUTE, [])
    assert empty.universal_ids == [] and empty.size == 0
    assert source.evidence(MINUTE, ["sf_a"]).universal_ids == ["sf_a"]


def test_a_lost_events_table_takes_its_aggregates_with_it(agg_store: ClickHouseStore) -> None:
    _load(agg_store, [_event("delivered", "sf_a", NOW - timedelta(days=1), message_id="a1")])
    agg_store.command(f"DROP TABLE {agg_store.events_table}")  # e.g. removed by hand
    agg_store.migrate()
    assert agg_store.created_events_table
    source = StoreSource(agg_store)
    assert source.evidence(MINUTE).universal_ids == [] and source.changed_since(0)[0] == []
    _load(agg_store, [_event("delivered", "sf_b", NOW - timedelta(days=1), message_id="b1")])
    assert source.evidence(MINUTE).universal_ids == ["sf_b"]
