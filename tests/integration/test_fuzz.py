"""Property-based fuzzing of both apps, on the real broker and chDB.

Two properties, with bounded case counts (``SENDFLOWR_FUZZ_EXAMPLES`` scales them):

- no operation of the connector or the inference app answers a server error (5xx) to any
  request schemathesis derives from its OpenAPI description;
- a yes is kept: every event the connector acknowledged is stored by the sink, nothing it
  acknowledged is dead-lettered, and no planted raw address reaches Kafka or ClickHouse.

Cases are derandomised so CI is repeatable; run with a larger ``SENDFLOWR_FUZZ_EXAMPLES``
locally to search further.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from confluent_kafka import Consumer
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings

from sendflowr.serve.compose import build_role
from sendflowr.serve.contract import Resources, RoleHandle
from sendflowr.settings import Settings
from tests.asgi import AppClient
from tests.conftest import drop_database
from tests.fuzz_strategies import PLANTED_DOMAIN, batches, encode_body
from tests.integration.sink_support import lag, wait_for
from tests.privacy import Findings

pytestmark = pytest.mark.slow

SCALE = float(os.environ.get("SENDFLOWR_FUZZ_EXAMPLES", "1"))
#: A planted address in any of the shapes the strategies make (case-insensitive).
PLANTED = re.compile(
    rf"[^\s@\"'\\<>(),;:]+@(?:[\w.-]*\.)?{re.escape(PLANTED_DOMAIN)}|fuzzlocal[^\s@\"'\\]*@localhost",
    re.IGNORECASE,
)


def _fuzz_settings(examples: int) -> Any:
    return hsettings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@dataclass
class Stack:
    """The three roles of ``serve`` in this process, on the session broker and chDB."""

    settings: Settings
    resources: Resources
    handles: dict[str, RoleHandle]
    clients: dict[str, AppClient] = field(default_factory=dict)


@pytest.fixture
def stack(kafka_settings: Settings, privacy_findings: Findings) -> Iterator[Stack]:
    settings = kafka_settings.model_copy(update={"mock_endpoints": True})
    resources = Resources(settings)
    handles = {name: build_role(name, resources) for name in ("connector", "consumer", "inference")}
    started = Stack(settings, resources, handles)
    consumer = handles["consumer"]
    assert consumer.start is not None and consumer.stop is not None
    consumer.start()
    try:
        for name in ("connector", "inference"):
            started.clients[name] = AppClient(handles[name].app)
        yield started
    finally:
        for client in started.clients.values():
            client.close()
        consumer.stop()
        drop_database(resources.store(), privacy_findings)
        resources.close()


def _uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return value if str(parsed) == value else None


def _read_all(settings: Settings, topic: str) -> list[bytes]:
    """Every value (and header value) of ``topic``, up to its current end."""
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"scan-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    meta = consumer.list_topics(topic, timeout=10).topics[topic]
    pending = set(meta.partitions)
    consumer.subscribe([topic])
    out: list[bytes] = []
    try:
        idle = 0
        while pending and idle < 20:
            batch = consumer.consume(10_000, timeout=0.5)
            idle = 0 if batch else idle + 1
            for msg in batch:
                if msg.error() is not None:
                    pending.discard(msg.partition())
                    continue
                out.append(msg.value() or b"")
                out.extend(v for _, v in (msg.headers() or []) if v)
    finally:
        consumer.close()
    return out


def _post_events(client: AppClient, batch: list[dict[str, Any]]) -> Any:
    body = encode_body(batch)
    return client.post("/api/events", content=body, headers={"content-type": "application/json"})


def test_acknowledged_events_are_stored_and_no_planted_address_leaks(stack: Stack) -> None:
    client = stack.clients["connector"]
    server_errors: list[str] = []
    acknowledged: set[str] = set()
    statuses: dict[int, int] = {}
    accepted_total = 0

    @_fuzz_settings(150)
    @given(batch=batches())
    def one_request(batch: list[dict[str, Any]]) -> None:
        nonlocal accepted_total
        response = _post_events(client, batch)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code >= 500:
            server_errors.append(f"{response.status_code} {response.text[:300]}")
            return
        if response.status_code != 200:
            return
        answer = response.json()
        rejected = {item["index"] for item in answer["rejected"]}
        accepted_total += answer["accepted"]
        for index, event in enumerate(batch):
            event_id = _uuid(event.get("event_id"))
            if index not in rejected and event_id is not None:
                acknowledged.add(event_id)

    one_request()
    assert not server_errors, server_errors[:5]
    assert statuses.get(200, 0) > 0, f"nothing was ever accepted: {statuses}"

    settings = stack.settings
    wait_for(lambda: lag(settings) == 0, 120, "the sink to store every acknowledged event")
    store = stack.resources.store()
    stored = {str(row[0]) for row in store.query(f"SELECT event_id FROM {store.events_table}").rows}  # noqa: S608
    missing = acknowledged - stored
    assert not missing, (
        f"{len(missing)} acknowledged events are not stored, e.g. {sorted(missing)[:3]}"
    )

    dead = _read_all(settings, settings.dlq_topic)
    assert not dead, f"{len(dead)} DLQ entries for acknowledged events, e.g. {dead[:2]!r}"

    leaks = [
        v
        for v in _read_all(settings, settings.topic)
        if PLANTED.search(v.decode("utf-8", "replace"))
    ]
    assert not leaks, f"planted addresses on the topic: {leaks[:2]!r}"
    rows = store.query(f"SELECT * FROM {store.events_table}")  # noqa: S608
    text = "\n".join(json.dumps(list(r), default=str, ensure_ascii=False) for r in rows.rows)
    found = PLANTED.findall(text)
    assert not found, f"planted addresses stored in ClickHouse: {found[:3]}"
    print(f"fuzz: {sum(statuses.values())} requests {statuses}, {accepted_total} accepted")


def _schema_cases(client: AppClient) -> Iterator[tuple[str, Any]]:
    # the schema of the app the fixture started (from_asgi would run its lifespan again:
    # a second engine, live consumer and schedule producer for one test)
    schema = schemathesis.openapi.from_dict(client.get("/openapi.json").json())
    for result in schema.get_all_operations():
        operation = result.ok()
        yield f"{operation.method.upper()} {operation.path}", operation


def _fuzz_operation(
    client: AppClient, name: str, operation: Any, failures: list[str], counts: dict[str, int]
) -> None:
    """Send ``operation``'s generated cases; record server errors in ``failures``."""

    @_fuzz_settings(40)
    @given(case=operation.as_strategy())
    def one_case(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://app.test")
        kwargs.pop("cookies", None)
        body = kwargs.pop("json", None)
        form = kwargs.pop("data", None)
        if form is not None:
            kwargs["content"] = form if isinstance(form, (bytes, str)) else json.dumps(form)
        if body is not None:
            kwargs["content"] = json.dumps(body, default=str)
            kwargs.setdefault("headers", {})["content-type"] = case.media_type or "application/json"
        method = kwargs.pop("method")
        url = kwargs.pop("url").removeprefix("http://app.test")
        response = client.request(method, url, **kwargs)
        counts[name] = counts.get(name, 0) + 1
        if response.status_code >= 500:
            failures.append(f"{name} → {response.status_code}: {response.text[:200]}")

    one_case()


@pytest.mark.parametrize("role", ["connector", "inference"])
def test_no_operation_answers_a_server_error(stack: Stack, role: str) -> None:
    failures: list[str] = []
    counts: dict[str, int] = {}
    for name, operation in _schema_cases(stack.clients[role]):
        _fuzz_operation(stack.clients[role], name, operation, failures, counts)
    assert not failures, failures[:5]
    print(f"fuzz {role}: {sum(counts.values())} cases over {len(counts)} operations")
