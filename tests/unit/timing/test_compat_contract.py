"""The reference inference contract, replayed against our inference app.

The shapes below are written from the reference's pydantic models and route handlers
(donutboyband/SendFlowr ``src/SendFlowr.Inference``: ``models/requests.py``
``TimingRequest``/``LegacyPredictionRequest``, ``models/responses.py``
``TimingDecisionResponse``, ``main.py`` and ``controllers/timing_controller.py``): each
request field the reference accepts, each response field it returns with its type, and
its status codes. Where we answer differently on purpose (errors are 4xx, not 200
``{"error": …}``), the test says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from sendflowr.clock import ManualClock
from sendflowr.identity import hash_email
from sendflowr.timing.api import create_app
from sendflowr.timing.compat import (
    MemoryClickStats,
    best_hour_within,
    curve_confidence,
    peak_windows,
)
from sendflowr.timing.curves import CurveConfig
from sendflowr.timing.engine import TimingEngine
from sendflowr.timing.explanations import MemoryExplanations
from sendflowr.timing.grid import SLOTS_PER_WEEK, slot_of
from sendflowr.timing.sources import MemorySource
from tests.asgi import AppClient
from tests.unit.timing.synthetic import START, history
from tests.unit.timing.test_api import FakeResolver
from tests.unit.timing.test_decisions import FixedLatency

NOW = START + timedelta(weeks=12, hours=1)

# --- the reference's models, as data --------------------------------------------------
#: models/requests.py TimingRequest: every field it declares, with its example values.
REFERENCE_TIMING_REQUEST: dict[str, Any] = {
    "universal_id": None,
    "email": "user@example.com",
    "phone": "+14155551234",
    "klaviyo_id": "k_abc123xyz",
    "shopify_customer_id": "12345678",
    "esp_user_id": "esp_user_999",
    "channel": "email",
    "provider": "klaviyo",
    "campaign_type": "promotional",
    "payload_size_bytes": 2048,
    "queue_depth_estimate": 1500,
    "send_after": (NOW + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
    "send_before": (NOW + timedelta(days=7)).isoformat().replace("+00:00", "Z"),
    "latency_estimate_seconds": 300,
}
#: models/responses.py TimingDecisionResponse.
REFERENCE_DECISION: dict[str, type | tuple[type, ...]] = {
    "decision_id": str,
    "universal_id": str,
    "target_minute_utc": int,
    "trigger_timestamp_utc": datetime,
    "latency_estimate_seconds": (int, float),
    "confidence_score": (int, float),
    "model_version": str,
    "explanation_ref": str,
    "created_at_utc": datetime,
    "debug": dict,
}
#: controllers/timing_controller.py legacy_predict.
REFERENCE_PREDICTION: dict[str, type | tuple[type, ...]] = {
    "recipient_id": str,
    "model_version": str,
    "peak_hour": int,
    "peak_probability": (int, float),
    "note": str,
}
#: controllers/timing_controller.py get_features.
REFERENCE_FEATURES: dict[str, type | tuple[type, ...]] = {
    "universal_id": str,
    "version": str,
    "curve_confidence": (int, float),
    "peak_windows": list,
    "click_count_30d": int,
    "click_count_7d": int,
    "last_click_ts": (str, type(None)),
    "computed_at": datetime,
}
#: core/identity_model.py IdentityResolution.to_dict.
REFERENCE_RESOLUTION: dict[str, type | tuple[type, ...]] = {
    "universal_id": str,
    "input_identifiers": dict,
    "resolved_identifiers": dict,
    "resolution_steps": list,
    "confidence_score": (int, float),
    "resolved_at": datetime,
}


def _conforms(body: dict[str, Any], shape: dict[str, type | tuple[type, ...]]) -> None:
    for name, kind in shape.items():
        assert name in body, f"missing {name}: {body}"
        value = body[name]
        if kind is datetime:
            assert isinstance(value, str)
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            assert isinstance(value, kind), f"{name}: {value!r} is not {kind}"


@pytest.fixture(scope="module")
def client() -> Iterator[AppClient]:
    peaks = {f"m{i}": (8,) for i in range(6)}
    evidence, _ = history(peaks)
    clicks = {"m3": [NOW - timedelta(days=2), NOW - timedelta(days=10), NOW - timedelta(days=40)]}

    def make_engine() -> TimingEngine:
        return TimingEngine(MemorySource(evidence), MemoryExplanations(), FixedLatency(42.0),
                            config=CurveConfig(segments=2), clock=ManualClock(NOW))  # fmt: skip

    app = create_app(
        make_engine, make_resolver=FakeResolver, make_click_stats=lambda: MemoryClickStats(clicks)
    )
    c = AppClient(app)
    try:
        yield c
    finally:
        c.close()


# --- POST /timing-decision --------------------------------------------------------------
def test_timing_decision_takes_the_reference_request_and_answers_its_response(
    client: AppClient,
) -> None:
    r = client.post("/timing-decision", json=REFERENCE_TIMING_REQUEST)
    assert r.status_code == 200, r.text
    body = r.json()
    _conforms(body, REFERENCE_DECISION)
    assert 0 <= body["target_minute_utc"] < SLOTS_PER_WEEK
    assert 0 <= body["confidence_score"] <= 1
    # Our absolute time travels beside the slot, and names the same minute.
    at = datetime.fromisoformat(body["target_time_utc"])
    assert slot_of(at) == body["target_minute_utc"]
    # The reference's queue_depth_estimate is our queue depth; its latency default is ignored.
    inputs = client.get(body["explanation_ref"]).json()["inputs"]
    assert inputs["queue_depth"] == 1500
    assert body["latency_estimate_seconds"] == 42.0


def test_timing_decision_minimal_reference_requests(client: AppClient) -> None:
    for request in ({"universal_id": "m1"}, {"universal_id": "m1", "channel": None},
                    {"email": "someone@example.com", "latency_estimate_seconds": 0}):  # fmt: skip
        r = client.post("/timing-decision", json=request)
        assert r.status_code == 200, (request, r.text)
        _conforms(r.json(), REFERENCE_DECISION)


def test_timing_decision_refuses_what_the_reference_model_refuses(client: AppClient) -> None:
    # latency_estimate_seconds is bounded 0..3600 there too; a 4xx with our envelope.
    r = client.post(
        "/timing-decision", json={"universal_id": "m1", "latency_estimate_seconds": 4000}
    )
    assert r.status_code == 422
    assert r.json()["field"] == "latency_estimate_seconds"


def test_batch_decisions_carry_the_reference_decision_shape(client: AppClient) -> None:
    r = client.post("/timing-decisions", json={"recipients": [{"universal_id": "m2"}],
                                                "queue_depth_estimate": 10})  # fmt: skip
    assert r.status_code == 200, r.text
    _conforms(r.json()["decisions"][0], REFERENCE_DECISION)


# --- POST /predict ------------------------------------------------------------------------
def test_predict_takes_the_legacy_request(client: AppClient) -> None:
    r = client.post("/predict", json={"recipient_id": "user_12345", "hours_ahead": 24})
    assert r.status_code == 200, r.text
    body = r.json()
    _conforms(body, REFERENCE_PREDICTION)
    assert body["recipient_id"] == "user_12345"
    assert 0 <= body["peak_hour"] <= 23


def test_predict_by_universal_id_under_recipient_id_and_hours_ahead(client: AppClient) -> None:
    body = client.post("/predict", json={"recipient_id": "sf_00000000000000aa"}).json()
    assert body["universal_id"] == "sf_00000000000000aa" and body["hours_ahead"] == 24
    short = client.post("/predict", json={"universal_id": "m0", "hours_ahead": 1}).json()
    at = datetime.fromisoformat(short["recommended_send_time_utc"])
    assert timedelta(0) < at - NOW <= timedelta(hours=1)
    assert short["peak_hour"] == at.hour
    for bad in (0, 169):
        r = client.post("/predict", json={"recipient_id": "x", "hours_ahead": bad})
        assert r.status_code == 422 and r.json()["field"] == "hours_ahead"
    missing = client.post("/predict", json={"hours_ahead": 24})
    assert missing.status_code == 422  # no recipient: the reference's 422 too


# --- features -----------------------------------------------------------------------------
def test_features_have_the_reference_fields(client: AppClient) -> None:
    r = client.get("/features/m3")
    assert r.status_code == 200, r.text
    body = r.json()
    _conforms(body, REFERENCE_FEATURES)
    assert body["click_count_7d"] == 1 and body["click_count_30d"] == 2
    assert body["last_click_ts"] == (NOW - timedelta(days=2)).isoformat()
    windows = body["peak_windows"]
    assert len(windows) == 3
    for w in windows:
        assert set(w) == {"minute_slot", "readable", "probability"}
        assert 0 <= w["minute_slot"] < SLOTS_PER_WEEK
    # m3 clicks at 08:xx on weekdays: its best window covers that hour.
    assert 6 * 60 <= windows[0]["minute_slot"] % 1440 <= 9 * 60
    assert 0 < body["curve_confidence"] < 1


def test_features_of_an_unknown_recipient_are_404(client: AppClient) -> None:
    r = client.get("/features/sf_ffffffffffffffff")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found" and r.json()["field"] == "universal_id"


def test_compute_features_answers_the_reference_status(client: AppClient) -> None:
    one = client.post("/compute-features/m3")
    assert one.status_code == 200
    assert one.json()["status"] == "computed" and one.json()["universal_id"] == "m3"
    every = client.post("/compute-features")
    assert every.json()["status"] == "computed" and every.json()["scope"] == "all_users"


# --- identity -----------------------------------------------------------------------------
def test_resolve_identity_with_query_parameters(client: AppClient) -> None:
    r = client.post(
        "/resolve-identity", params={"email": "Ann@Example.com", "phone": "+14155551234"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    _conforms(body, REFERENCE_RESOLUTION)
    # The raw address never goes back out: the reference's email_hash stands for it.
    assert body["input_identifiers"]["email"] == hash_email("ann@example.com")
    assert "Ann@Example.com" not in r.text
    json_body = client.post("/resolve-identity", json={"email": "ann@example.com"}).json()
    assert json_body["universal_id"] == body["universal_id"]


def test_resolve_identity_without_keys_is_a_4xx(client: AppClient) -> None:
    # The reference answered 200 {"error": "No identity keys provided"}; an error is a 4xx here.
    r = client.post("/resolve-identity")
    assert r.status_code == 422 and r.json()["error"] == "invalid"


def test_link_identifiers_with_query_parameters(client: AppClient) -> None:
    params = {"identifier_a": "sf_00000000000000aa", "type_a": "universal_id",
              "identifier_b": "k_abc123xyz", "type_b": "klaviyo_id",
              "weight": 0.9, "source": "klaviyo_webhook"}  # fmt: skip
    r = client.post("/link-identifiers", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "linked"
    assert body["identifier_a"] == "sf_00000000000000aa" and body["identifier_b"] == "k_abc123xyz"
    assert body["weight"] == 0.9 and body["universal_id"] == "sf_00000000000000aa"
    two_keys = {"identifier_a": "a@example.com", "type_a": "email_hash",
                "identifier_b": "+14155551234", "type_b": "phone_number"}  # fmt: skip
    r2 = client.post("/link-identifiers", params=two_keys)
    assert r2.status_code == 200 and r2.json()["identifier_a"] == hash_email("a@example.com")


def test_link_identifiers_bad_type_and_missing_parts(client: AppClient) -> None:
    bad = {"identifier_a": "x", "type_a": "shoe_size", "identifier_b": "y", "type_b": "klaviyo_id"}
    r = client.post("/link-identifiers", params=bad)
    assert r.status_code == 422 and r.json()["field"] == "type_a"
    half = client.post("/link-identifiers", params={"identifier_a": "x", "type_a": "klaviyo_id"})
    assert half.status_code == 422 and half.json()["field"] == "identifier_b"
    ids = {"identifier_a": "sf_1", "type_a": "universal_id", "identifier_b": "sf_2",
           "type_b": "universal_id"}  # fmt: skip
    assert client.post("/link-identifiers", params=ids).status_code == 422


# --- the service's own pages ----------------------------------------------------------------
def test_root_scalar_and_health(client: AppClient) -> None:
    root = client.get("/")
    assert root.status_code == 200
    assert {"service", "version", "documentation", "endpoints"} <= set(root.json())
    page = client.get("/scalar")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/openapi.json" in page.text
    health = client.get("/health").json()
    assert health["status"] == "healthy"


# --- the pieces ------------------------------------------------------------------------------
def test_peak_windows_do_not_overlap_and_wrap_the_week() -> None:
    curve = np.full(SLOTS_PER_WEEK, 1e-6)
    curve[10070:] = 1.0  # Sunday 23:50 … wraps into Monday 00:00
    curve[:10] = 1.0
    curve[600:660] = 0.2  # 60 × 0.2 = 12 < 20 × 1.0
    windows = peak_windows(curve)
    starts = [w["minute_slot"] for w in windows]
    assert starts[0] >= 10070 - 120 or starts[0] <= 10  # the wrapping window is first
    for i, a in enumerate(starts):
        for b in starts[i + 1 :]:
            gap = min((a - b) % SLOTS_PER_WEEK, (b - a) % SLOTS_PER_WEEK)
            assert gap >= 120
    assert windows[0]["probability"] > windows[1]["probability"] > windows[2]["probability"]


def test_curve_confidence_bounds() -> None:
    assert curve_confidence(np.ones(SLOTS_PER_WEEK)) == pytest.approx(0.0, abs=1e-12)
    spike = np.zeros(SLOTS_PER_WEEK)
    spike[5] = 1.0
    assert curve_confidence(spike) == pytest.approx(1.0)
    assert curve_confidence(np.zeros(SLOTS_PER_WEEK)) == 0.0


def test_best_hour_within_the_horizon() -> None:
    probs = [0.0] * 24
    probs[8], probs[20] = 0.5, 0.3
    now = START.replace(hour=10, minute=17)
    assert best_hour_within(probs, now, 24)[0] == 8  # tomorrow 08:00
    hour, at = best_hour_within(probs, now, 12)  # 08:00 is out of reach: 20:00 today
    assert hour == 20 and at == now.replace(hour=20, minute=0)
