"""The inference API over in-memory doubles: shapes, status codes, explanations."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from sendflowr.clock import ManualClock
from sendflowr.identity import Resolution, universal_id_for
from sendflowr.timing.api import create_app
from sendflowr.timing.context import Context, Suppression
from sendflowr.timing.curves import CurveConfig
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import MemoryExplanations
from sendflowr.timing.grid import epoch_minute
from sendflowr.timing.sources import MemorySource
from tests.asgi import AppClient
from tests.unit.timing.synthetic import START, history
from tests.unit.timing.test_decisions import FixedLatency

NOW = START + timedelta(weeks=12, hours=1)


class FakeResolver:
    def __init__(self) -> None:
        self.started = False
        self.links: list[tuple[str, Any]] = []

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.started = False

    def resolve_many(self, key_sets: list[Any]) -> list[Resolution]:
        return [Resolution(universal_id_for(ks[0].key_type, ks[0].value), 1.0, False, ("found",))
                for ks in key_sets]  # fmt: skip

    def link(self, universal_id: str, keys: Any) -> Resolution:
        self.links.append((universal_id, keys))
        return Resolution(universal_id, 0.95, False, ("linked",))


@pytest.fixture(scope="module")
def client() -> Iterator[AppClient]:
    peaks = {f"m{i}": (8,) for i in range(10)} | {f"e{i}": (19,) for i in range(10)}
    evidence, _ = history(peaks)
    m = epoch_minute(NOW)
    contexts = {
        "e1": Context(suppressions=[Suppression("complaint", m - 60, m + 47 * 60)]),
        "e2": Context(suppressions=[Suppression("marked_spam", m - 600, None)]),
    }

    def make_engine() -> TimingEngine:
        return TimingEngine(MemorySource(evidence, contexts), MemoryExplanations(),
                            FixedLatency(42.0), config=CurveConfig(segments=4),
                            clock=ManualClock(NOW))  # fmt: skip

    app = create_app(make_engine, make_resolver=FakeResolver, api_key="k")
    c = AppClient(app)
    c.client.headers["X-API-Key"] = "k"
    try:
        yield c
    finally:
        c.close()


def test_single_decision_and_its_explanation(client: AppClient) -> None:
    r = client.post("/timing-decision", json={"universal_id": "m3", "channel": "email"})
    assert r.status_code == 200, r.text
    body = r.json()
    for key in ("decision_id", "universal_id", "target_minute_utc", "trigger_timestamp_utc",
                "latency_estimate_seconds", "confidence_score", "model_version",
                "explanation_ref", "created_at_utc", "debug"):  # fmt: skip
        assert key in body
    assert body["latency_estimate_seconds"] == 42.0
    assert set(body["debug"]) >= {"base_curve_peak", "applied_weights", "suppressed"}
    ex = client.get(body["explanation_ref"])
    assert ex.status_code == 200
    record = ex.json()
    assert record["decision_id"] == body["decision_id"]
    assert record["inputs"]["channel"] == "email"
    assert record["explanation"]["latency"]["seconds"] == 42.0
    assert client.get("/explanations/00000000-0000-7000-8000-000000000000").status_code == 404


def test_identity_keys_are_resolved(client: AppClient) -> None:
    r = client.post("/timing-decision", json={"email": "Someone@Example.com"})
    assert r.status_code == 200
    assert r.json()["universal_id"].startswith("sf_")
    assert r.json()["debug"]["base_curve_peak"]  # a cold start still decides
    record = client.get(r.json()["explanation_ref"]).json()
    assert "someone" not in str(record).lower()  # the raw address is never stored


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "email"}, "universal_id"),
        ({"universal_id": "m1", "channel": "fax"}, "channel"),
        ({"universal_id": "m1", "send_after": "2026-01-02T10:00:00Z",
          "send_before": "2026-01-02T09:00:00Z"}, "send_before"),
    ],
)  # fmt: skip
def test_bad_requests_are_422_with_the_reason(
    client: AppClient, body: dict[str, Any], field: str
) -> None:
    r = client.post("/timing-decision", json=body)
    assert r.status_code == 422
    assert r.json()["field"] == field
    assert r.json()["reason"]


def test_suppressed_window_is_409_with_when_it_ends(client: AppClient) -> None:
    before = (NOW + timedelta(hours=10)).isoformat()
    r = client.post("/timing-decision", json={"universal_id": "e1", "send_before": before})
    assert r.status_code == 409
    assert r.json()["reason"] == "complaint"
    assert r.json()["suppressed_until"].startswith((NOW + timedelta(hours=47)).date().isoformat())
    spam = client.post("/timing-decision", json={"universal_id": "e2"})
    assert spam.status_code == 409 and spam.json()["suppressed_until"] is None


def test_batch_decides_everyone_and_skips_the_suppressed(client: AppClient) -> None:
    recipients = [{"universal_id": f"m{i}"} for i in range(10)] + [{"universal_id": "e2"}]
    r = client.post("/timing-decisions", json={"recipients": recipients, "channel": "sms"})
    assert r.status_code == 200
    body = r.json()
    assert body["count"] == 10
    assert [s["universal_id"] for s in body["skipped"]] == ["e2"]
    assert all(d["target_time_utc"][11:13] == "08" for d in body["decisions"])
    assert all(d["target_minute_utc"] % 1440 // 60 == 8 for d in body["decisions"])


def test_hourly_predict_features_and_compute(client: AppClient) -> None:
    r = client.post("/predict", json={"universal_id": "e4"})
    assert r.status_code == 200
    body = r.json()
    assert len(body["hourly_probabilities"]) == 24
    assert abs(sum(body["hourly_probabilities"]) - 1.0) < 1e-6
    assert body["best_hour_utc"] == 19
    f = client.get("/features/e4").json()
    assert f["cold_start"] is False and f["best_hour_utc"] == 19
    assert client.post("/compute-features", headers={"X-API-Key": "no"}).status_code == 401
    ok = client.post("/compute-features", headers={"X-API-Key": "k"})
    assert ok.status_code == 200 and ok.json()["users"] == 20
    one = client.post("/compute-features/e4", headers={"Authorization": "Bearer k"})
    assert one.json()["universal_id"] == "e4"


def test_identity_endpoints(client: AppClient) -> None:
    r = client.post("/resolve-identity", json={"email": "a@b.co"})
    assert r.status_code == 200 and r.json()["universal_id"].startswith("sf_")
    assert client.post("/resolve-identity", json={}).status_code == 422
    body = {"universal_id": "sf_0000000000000001", "klaviyo_id": "K1"}
    link = client.post("/link-identifiers", headers={"X-API-Key": "k"}, json=body)
    assert link.status_code == 200 and link.json()["confidence"] == 0.95


def test_health_and_metrics(client: AppClient) -> None:
    h = client.get("/health").json()
    assert h["status"] == "healthy" and h["latency_model_version"] == "fixed"
    text = client.get("/metrics").text
    assert "sendflowr_timing_decisions_total" in text
    assert client.get("/openapi.json").status_code == 200


def test_predict_honours_circuit_breakers(client: AppClient) -> None:
    spam = client.post("/predict", json={"universal_id": "e2"})  # marked_spam: for good
    assert spam.status_code == 409
    assert spam.json()["reason"] == "marked_spam" and spam.json()["suppressed_until"] is None
    r = client.post("/predict", json={"universal_id": "e1"})  # complaint: 47 more hours
    assert r.status_code == 200
    body = r.json()
    until = datetime.fromisoformat(body["suppressed_until"])
    assert until == NOW + timedelta(hours=47)
    at = datetime.fromisoformat(body["recommended_send_time_utc"])
    assert until <= at < until + timedelta(days=1)
    assert at.hour == body["best_hour_utc"] == 19 and at.minute == 0
    free = client.post("/predict", json={"universal_id": "e4"}).json()
    assert free["suppressed_until"] is None
    assert datetime.fromisoformat(free["recommended_send_time_utc"]) < NOW + timedelta(days=1)


@pytest.mark.parametrize(
    ("channel", "provider", "valid"),
    [("email", "twilio", "klaviyo, mailchimp, sendgrid"),
     ("email", "postmark", "klaviyo, mailchimp, sendgrid"),
     ("sms", "sendgrid", "messagebird, twilio")],
)  # fmt: skip
def test_provider_must_be_known_and_of_the_channel(
    client: AppClient, channel: str, provider: str, valid: str
) -> None:
    body = {"universal_id": "m1", "channel": channel, "provider": provider}
    r = client.post("/timing-decision", json=body)
    assert r.status_code == 422
    assert r.json()["field"] == "provider"
    assert r.json()["reason"].endswith(f"valid: {valid}")
    one = [{"universal_id": "m1"}]
    batch = client.post(
        "/timing-decisions", json={"recipients": one, "channel": channel, "provider": provider}
    )
    assert batch.status_code == 422 and batch.json()["field"] == "provider"


def test_a_provider_of_the_channel_is_accepted(client: AppClient) -> None:
    for channel, provider in (("email", "sendgrid"), ("sms", "twilio"), ("push", "firebase")):
        body = {"universal_id": "m1", "channel": channel, "provider": provider}
        assert client.post("/timing-decision", json=body).status_code == 200


def test_batch_capacity_spreads_and_explains_moves(client: AppClient) -> None:
    recipients = [{"universal_id": f"c{i}"} for i in range(3000)]
    recipients += [{"universal_id": f"m{i}"} for i in range(10)]
    capacity = {"per_minute": 500, "per_provider": {"klaviyo": 40}}
    body = {"recipients": recipients, "capacity": capacity}
    r = client.post("/timing-decisions", json=body)
    assert r.status_code == 200, r.text
    decisions = r.json()["decisions"]
    per_minute = Counter(d["target_minute_utc"] for d in decisions)
    assert len(decisions) == 3010 and max(per_minute.values()) <= 40  # klaviyo: the default
    moved = next(d for d in decisions if d["debug"]["moved"])
    record = client.get(moved["explanation_ref"]).json()
    spread = record["explanation"]["spread"]
    assert spread["moved"] is True and spread["capacity_per_minute"] == 40
    assert 0 <= spread["relative_cost"] < 1 and spread["preferred_utc"]
    assert record["inputs"]["capacity"]["per_provider"] == {"klaviyo": 40}
    bad = dict(body, capacity={"per_provider": {"postmark": 5}})
    r = client.post("/timing-decisions", json=bad)
    assert r.status_code == 422 and r.json()["field"] == "capacity.per_provider"
    tiny = dict(
        body, capacity={"per_minute": 1}, send_before=(NOW + timedelta(hours=1)).isoformat()
    )
    r = client.post("/timing-decisions", json=tiny)
    assert r.status_code == 422 and r.json()["field"] == "capacity"


def test_exploration_share_per_request(client: AppClient) -> None:
    recipients = [{"universal_id": f"m{i}"} for i in range(10)]
    recipients += [{"universal_id": f"e{i}"} for i in range(3, 10)]
    off = client.post("/timing-decisions", json={"recipients": recipients, "explore_share": 0})
    assert not any(d["debug"]["exploration"] for d in off.json()["decisions"])
    on = client.post("/timing-decisions", json={"recipients": recipients, "explore_share": 1})
    explored = [d for d in on.json()["decisions"] if d["debug"]["exploration"]]
    assert len(explored) >= 10
    note = client.get(explored[0]["explanation_ref"]).json()["explanation"]["exploration"]
    assert note["explored"] is True and note["share"] == 1
    too_much = {"recipients": recipients, "explore_share": 2}
    assert client.post("/timing-decisions", json=too_much).status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"universal_id": "m1", "queue_depth": 2**64}, "queue_depth"),
        ({"universal_id": "m1", "queue_depth": 2**32}, "queue_depth"),
        ({"universal_id": "m1", "payload_size_bytes": 2**70}, "payload_size_bytes"),
        ({"universal_id": "m1", "send_after": "9999-12-30T00:00:00Z"}, "send_after"),
        ({"universal_id": "m1", "send_before": "0001-01-01T00:00:00+05:00"}, "send_before"),
        ({"universal_id": "m1", "provider": "p" * 65}, "provider"),
    ],
)
def test_out_of_range_inputs_are_422_with_the_field(
    client: AppClient, body: dict[str, Any], field: str
) -> None:
    window = {k: v for k, v in body.items() if k != "universal_id"}
    batch = {**window, "recipients": [{"universal_id": "m1"}]}
    for path, payload in [("/timing-decision", body), ("/timing-decisions", batch)]:
        got = client.post(path, json=payload)
        assert got.status_code == 422, got.text
        assert got.json()["error"] == "invalid" and got.json()["field"] == field
