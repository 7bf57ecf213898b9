"""The timing engine on real chDB: evidence and context queries, explanations, the role."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sendflowr.clock import ManualClock
from sendflowr.events import CanonicalEvent, uuid7
from sendflowr.generator import generate_canonical
from sendflowr.serve.contract import Resources
from sendflowr.store import ClickHouseStore
from sendflowr.timing.compat import StoreClickStats
from sendflowr.timing.decisions import Decision, DecisionRequest, Skipped
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import StoreExplanations
from sendflowr.timing.grid import epoch_minute
from sendflowr.timing.latency import HeuristicLatency
from sendflowr.timing.role import build
from sendflowr.timing.sources import StoreSource
from tests.asgi import AppClient
from tests.conftest import unique_name
from tests.store_support import events_to_columns

NOW = datetime(2026, 1, 11, tzinfo=UTC)


def _event(event_type: str, uid: str, at: datetime, **kw: Any) -> CanonicalEvent:
    return CanonicalEvent(event_id=uuid7(at), event_type=event_type, timestamp=at,
                          universal_id=uid, **kw)  # fmt: skip


def _load(store: ClickHouseStore, events: list[CanonicalEvent]) -> None:
    store.insert_columns("email_events", events_to_columns(events, NOW))


@pytest.fixture
def loaded(store: ClickHouseStore) -> ClickHouseStore:
    _load(store, generate_canonical(seed=5, users=40))
    return store


def test_evidence_joins_deliveries_to_clicks_and_human_opens(store: ClickHouseStore) -> None:
    t = NOW - timedelta(days=2)
    events = [
        _event("delivered", "sf_a", t, message_id="m1"),
        _event("opened", "sf_a", t + timedelta(minutes=5), message_id="m1"),
        _event("clicked", "sf_a", t + timedelta(minutes=9), message_id="m1"),
        _event("delivered", "sf_a", t + timedelta(hours=1), message_id="m2"),
        _event(
            "opened",
            "sf_a",
            t + timedelta(hours=2),
            message_id="m2",
            user_agent="Mozilla/5.0 (via ggpht.com GoogleImageProxy)",
        ),  # fmt: skip
        _event("delivered", "sf_b", t, message_id="m3"),
        _event("opened", "sf_b", t + timedelta(minutes=1), message_id="m3"),
        _event("delivered", "sf_b", NOW + timedelta(hours=1), message_id="m4"),  # the future
    ]
    _load(store, events)
    ev = StoreSource(store).evidence(epoch_minute(NOW))
    rows = zip(ev.user_index, ev.delivered_minute, ev.clicked, ev.opened, strict=True)
    got = {(ev.universal_ids[u], int(m)): (bool(c), bool(o)) for u, m, c, o in rows}
    assert got == {
        ("sf_a", epoch_minute(t)): (True, True),
        ("sf_a", epoch_minute(t) + 60): (False, False),  # a proxy open is not a human open
        ("sf_b", epoch_minute(t)): (False, True),
    }


def test_evidence_is_read_on_each_users_latest_stored_zone(store: ClickHouseStore) -> None:
    t = NOW - timedelta(days=3)
    events = [
        _event("delivered", "sf_k", t - timedelta(days=1), message_id="k0", timezone="Asia/Tokyo"),
        _event("delivered", "sf_k", t, message_id="k1", timezone="Asia/Kolkata"),
        _event("clicked", "sf_k", t + timedelta(minutes=3), message_id="k1"),
        _event("delivered", "sf_u", t, message_id="u1"),
    ]
    _load(store, events)
    source = StoreSource(store)
    ev = source.evidence(epoch_minute(NOW))
    got = {
        (ev.universal_ids[u], int(m))
        for u, m in zip(ev.user_index, ev.delivered_minute, strict=True)
    }
    assert ("sf_k", epoch_minute(t) + 330) in got  # Kolkata's local clock, +05:30
    assert ("sf_u", epoch_minute(t)) in got  # nothing known: UTC
    zone = source.zone_of("sf_k")
    assert zone is not None and (zone.name, zone.source) == ("Asia/Kolkata", "stored")
    other = source.zone_of("sf_u")
    assert other is not None and (other.name, other.source) == ("UTC", "default")


def test_contexts_find_hot_paths_sends_and_breakers(store: ClickHouseStore) -> None:
    _load(store, [
        _event("site_visit", "sf_a", NOW - timedelta(minutes=10)),
        _event("site_visit", "sf_a", NOW - timedelta(hours=3)),  # too old to boost
        _event("sent", "sf_a", NOW - timedelta(hours=5)),
        _event("complaint", "sf_b", NOW - timedelta(hours=47)),
        _event("support_ticket", "sf_b", NOW - timedelta(hours=49)),  # over
        _event("marked_spam", "sf_c", NOW - timedelta(days=90)),
    ])  # fmt: skip
    ctx = StoreSource(store).contexts(["sf_a", "sf_b", "sf_c", "sf_none"], epoch_minute(NOW))
    assert set(ctx) == {"sf_a", "sf_b", "sf_c"}
    assert ctx["sf_a"].hot_paths == [epoch_minute(NOW) - 10]
    assert len(ctx["sf_a"].recent_sends) == 1
    reasons = {s.reason: s.end for s in ctx["sf_b"].suppressions}
    assert reasons["complaint"] == epoch_minute(NOW) - 47 * 60 + 48 * 60
    assert ctx["sf_c"].suppressions[0].end is None


def test_engine_decides_and_explanations_round_trip(loaded: ClickHouseStore) -> None:
    engine = TimingEngine(StoreSource(loaded), StoreExplanations(loaded), HeuristicLatency(),
                          clock=ManualClock(NOW))  # fmt: skip
    ids = [str(r[0]) for r in loaded.query(
        f"SELECT DISTINCT universal_id FROM {loaded.events_table} ORDER BY universal_id"  # noqa: S608
    ).rows]  # fmt: skip
    out = engine.decide(DecisionRequest(ids + ["sf_cold"]), inputs={"channel": "email"})
    decisions = [d for d in out if isinstance(d, Decision)]
    assert len(decisions) + sum(isinstance(d, Skipped) for d in out) == len(ids) + 1
    for d in decisions[:5]:
        assert d.trigger_timestamp_utc >= NOW
        record = engine.explanations.get(d.decision_id)
        assert record is not None
        assert record["universal_id"] == d.universal_id
        assert record["target_time_utc"] == d.target_minute_utc.isoformat()
        assert record["explanation"]["latency"]["model_version"] == "latency-heuristic-1"
    assert engine.explanations.get(str(uuid.uuid4())) is None
    assert engine.explanations.get("not-a-uuid") is None


#: The inference role's own threads: live context, schedule firing, explanation writer.
LIVE_THREADS = {"sendflowr-live", "sendflowr-schedules", "sendflowr-explanations"}


def _live_threads_since(before: set[threading.Thread]) -> set[str]:
    """The live threads started after ``before`` was taken and still running."""
    alive = {t.name for t in threading.enumerate() if t not in before and t.is_alive()}
    return alive & LIVE_THREADS


def _role_resources(
    loaded: ClickHouseStore, make_settings: Any, kafka_bootstrap: str, topic: str
) -> Resources:
    # the session broker and a fresh topic: the role follows the stream as in production
    # (with no broker it would retry its live context for minutes, then use the store)
    settings = make_settings(clickhouse_database=loaded.database,
                             kafka_bootstrap_servers=kafka_bootstrap,
                             topic=topic, dlq_topic=f"{topic}-dlq")  # fmt: skip
    return Resources(settings)


def test_inference_role_serves_over_the_shared_store(
    loaded: ClickHouseStore, make_settings: Any, kafka_bootstrap: str, topic: str
) -> None:
    resources = _role_resources(loaded, make_settings, kafka_bootstrap, topic)
    handle = build(resources)
    assert handle.name == "inference" and handle.port == resources.settings.inference_port
    before = set(threading.enumerate())
    client = AppClient(handle.app)
    try:
        assert _live_threads_since(before) == LIVE_THREADS
        uid = str(loaded.query(f"SELECT any(universal_id) FROM {loaded.events_table}").scalar())  # noqa: S608
        r = client.post("/timing-decision", json={"universal_id": uid, "channel": "sms"})
        assert r.status_code == 200, r.text
        ex = client.get(r.json()["explanation_ref"])
        assert ex.status_code == 200 and ex.json()["inputs"]["channel"] == "sms"
        who = client.post("/resolve-identity", json={"email": f"{unique_name('u')}@example.com"})
        assert who.status_code == 200 and who.json()["universal_id"].startswith("sf_")
        f = client.get(f"/features/{uid}")
        assert f.status_code == 200 and f.json()["cold_start"] is False
        assert len(f.json()["peak_windows"]) == 3 and "click_count_30d" in f.json()
    finally:
        client.close()
        # the app's shutdown stops its live consumer, schedule producer and explanation
        # writer (without the handle's stop): left running, they retried a stopped broker
        assert _live_threads_since(before) == set()
        resources.close()


def test_a_second_lifespan_of_the_inference_app_leaves_nothing_running(
    loaded: ClickHouseStore, make_settings: Any, kafka_bootstrap: str, topic: str
) -> None:
    # A lifespan run while another holds the app (schemathesis' from_asgi does this): the
    # second start stops the first's live parts, else their consumer, producer and threads
    # ran on with no owner until the process exited.
    resources = _role_resources(loaded, make_settings, kafka_bootstrap, topic)
    app = build(resources).app
    before = set(threading.enumerate())
    first = AppClient(app)
    try:
        AppClient(app).close()
    finally:
        first.close()
        resources.close()
    assert _live_threads_since(before) == set()


def test_click_stats_count_a_recipients_clicks_in_clickhouse(store: ClickHouseStore) -> None:
    events = [
        _event("clicked", "sf_c", NOW - timedelta(days=1), message_id="c1"),
        _event("clicked", "sf_c", NOW - timedelta(days=8), message_id="c2"),
        _event("clicked", "sf_c", NOW - timedelta(days=31), message_id="c3"),
        _event("clicked", "sf_c", NOW + timedelta(hours=1), message_id="c4"),  # the future
        _event("opened", "sf_c", NOW - timedelta(hours=1), message_id="c5"),
        _event("clicked", "sf_d", NOW - timedelta(hours=2), message_id="d1"),
    ]
    _load(store, events)
    stats = StoreClickStats(store)
    c = stats.clicks("sf_c", NOW)
    assert (c.count_7d, c.count_30d) == (1, 2)
    assert c.last_click == NOW - timedelta(days=1)
    none = stats.clicks("sf_nobody", NOW)
    assert (none.count_7d, none.count_30d, none.last_click) == (0, 0, None)
