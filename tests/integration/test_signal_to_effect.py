"""Signal-to-effect on the real broker: the connector acknowledges a complaint → the
inference role's next decision for that recipient reflects it (a 409), p95 ≤ 2 s."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from sendflowr.serve.compose import build_role
from sendflowr.serve.contract import Resources
from sendflowr.settings import Settings
from tests.asgi import AppClient


def test_connector_ack_to_decision_within_two_seconds(kafka_settings: Settings) -> None:
    resources = Resources(kafka_settings, roles=("connector", "inference"))
    connector_handle = build_role("connector", resources)
    inference_handle = build_role("inference", resources)
    connector = AppClient(connector_handle.app)
    inference = AppClient(inference_handle.app)
    delays = []
    try:
        for i in range(20):
            now = datetime.now(UTC)
            email = f"s2e{i}@example.com"
            who = {"email": email}
            window = {"send_after": (now + timedelta(minutes=1)).isoformat(),
                      "send_before": (now + timedelta(hours=2)).isoformat()}  # fmt: skip
            first = inference.post("/timing-decision", json=who | window)
            assert first.status_code == 200, first.text
            event = {"event_type": "complaint", "timestamp": now.isoformat(),
                     "recipient_email": email}  # fmt: skip
            assert connector.post("/api/events", json=[event]).status_code == 200
            acked = time.perf_counter()
            while inference.post("/timing-decision", json=who | window).status_code != 409:
                assert time.perf_counter() - acked < 10, "the complaint never reached decisions"
                time.sleep(0.01)
            delays.append(time.perf_counter() - acked)
    finally:
        connector.close()
        inference.close()
        for handle in (inference_handle, connector_handle):
            if handle.stop is not None:
                handle.stop()
        resources.store("cleanup").command(
            f"DROP DATABASE IF EXISTS `{kafka_settings.clickhouse_database}`"
        )
        resources.close()
    delays.sort()
    p50, p95 = delays[len(delays) // 2], delays[int(0.95 * (len(delays) - 1))]
    print(f"signal-to-effect (connector ack → 409): p50 {p50:.3f} s, p95 {p95:.3f} s")
    assert p95 <= 2.0, delays
