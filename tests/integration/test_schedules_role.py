"""The inference role as served: POST /schedules holds, the book fires, GET reads it back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from sendflowr.clock import ManualClock
from sendflowr.serve.compose import build_role
from sendflowr.serve.contract import Resources
from sendflowr.settings import Settings
from sendflowr.timing.schedules import read_topic
from tests.asgi import AppClient
from tests.integration.sink_support import wait_for


def test_post_schedules_holds_then_one_command_fires(kafka_settings: Settings) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    resources = Resources(kafka_settings, roles=("inference",), clock=clock)
    handle = build_role("inference", resources)
    client = AppClient(handle.app)
    try:
        body = {"universal_id": "sf_0000000000000001", "campaign_id": "spring",
                "send_after": (clock.now() + timedelta(minutes=5)).isoformat(),
                "send_before": (clock.now() + timedelta(hours=3)).isoformat()}  # fmt: skip
        r = client.post("/schedules", json=body)
        assert r.status_code == 201, r.text
        held = r.json()
        assert held["status"] == "pending" and held["campaign_id"] == "spring"
        got = client.get(f"/schedules/{held['schedule_id']}").json()
        assert got["decision_id"] == held["decision_id"]
        listed = client.get("/schedules", params={"campaign_id": "spring"}).json()
        assert listed["counts"]["pending"] == 1
        assert client.get("/schedules/nope").status_code == 404

        clock.set(datetime.fromisoformat(held["trigger_at"]) + timedelta(seconds=1))
        wait_for(
            lambda: client.get(f"/schedules/{held['schedule_id']}").json()["status"] == "fired",
            30, "the schedule to fire",
        )  # fmt: skip
        topics = [
            orjson.loads(v or b"{}")
            for _, v in read_topic(
                kafka_settings.kafka_bootstrap_servers, f"{kafka_settings.topic}-send-commands"
            )
        ]
        assert [c["idempotency_key"] for c in topics] == [held["schedule_id"]]
    finally:
        client.close()
        if handle.stop is not None:
            handle.stop()
        resources.store("cleanup").command(
            f"DROP DATABASE IF EXISTS `{kafka_settings.clickhouse_database}`"
        )
        resources.close()
