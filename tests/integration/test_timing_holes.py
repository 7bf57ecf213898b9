"""The inference API over real chDB: circuit breakers on /predict, capacity, explanations."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sendflowr.clock import ManualClock
from sendflowr.events import CanonicalEvent, uuid7
from sendflowr.generator import generate_canonical
from sendflowr.store import ClickHouseStore
from sendflowr.timing.api import create_app
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import StoreExplanations
from sendflowr.timing.latency import HeuristicLatency
from sendflowr.timing.sources import StoreSource
from tests.asgi import AppClient
from tests.store_support import events_to_columns

NOW = datetime(2026, 1, 11, tzinfo=UTC)


def _event(event_type: str, uid: str, at: datetime, **kw: Any) -> CanonicalEvent:
    return CanonicalEvent(event_id=uuid7(at), event_type=event_type, timestamp=at,
                          universal_id=uid, **kw)  # fmt: skip


def test_breakers_capacity_and_explanations_through_the_store(store: ClickHouseStore) -> None:
    events = generate_canonical(seed=5, users=40)
    events += [
        _event("unsubscribed", "sf_gone", NOW - timedelta(days=30)),
        _event("complaint", "sf_upset", NOW - timedelta(hours=1)),
    ]
    store.insert_columns("email_events", events_to_columns(events, NOW))
    engine = TimingEngine(StoreSource(store), StoreExplanations(store), HeuristicLatency(),
                          clock=ManualClock(NOW))  # fmt: skip
    client = AppClient(create_app(lambda: engine))
    try:
        gone = client.post("/predict", json={"universal_id": "sf_gone"})
        assert gone.status_code == 409 and gone.json()["reason"] == "unsubscribed"
        upset = client.post("/predict", json={"universal_id": "sf_upset"}).json()
        until = datetime.fromisoformat(upset["suppressed_until"])
        assert until == NOW + timedelta(hours=47)
        assert datetime.fromisoformat(upset["recommended_send_time_utc"]) >= until
        body = {"universal_id": "sf_upset", "send_before": (NOW + timedelta(hours=46)).isoformat()}
        assert client.post("/timing-decision", json=body).status_code == 409
        recipients = [{"universal_id": f"sf_cold{i}"} for i in range(1500)]
        recipients += [{"universal_id": "sf_upset"}, {"universal_id": "sf_gone"}]
        batch = {"recipients": recipients, "capacity": {"per_minute": 30}}
        r = client.post("/timing-decisions", json=batch)
        assert r.status_code == 200, r.text
        out = r.json()
        assert [s["universal_id"] for s in out["skipped"]] == ["sf_gone"]
        assert max(Counter(d["target_minute_utc"] for d in out["decisions"]).values()) <= 30
        upset_d = next(d for d in out["decisions"] if d["universal_id"] == "sf_upset")
        assert datetime.fromisoformat(upset_d["target_time_utc"]) >= until
        moved = next(d for d in out["decisions"] if d["debug"]["moved"])
        record = client.get(moved["explanation_ref"]).json()
        assert record["explanation"]["spread"]["moved"] is True
        assert record["inputs"]["capacity"]["per_minute"] == 30
    finally:
        client.close()
