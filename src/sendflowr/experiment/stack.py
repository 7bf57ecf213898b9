"""The real flow, in-process, for one experiment run.

Connector (HTTP) → Kafka → sink → ClickHouse (embedded chDB in the run's own
folder), and the inference API (HTTP) whose engine runs on the experiment's
clock — the only way an engine can live through simulated weeks in minutes.
Every role is SendFlowr's own; the experiment talks to them over HTTP only
(and reads the store as ``sendflowr sql`` would, for the hourly arm).

Kafka: the broker at ``KAFKA_BOOTSTRAP_SERVERS`` (the project's local broker
is started when it is not running, and stopped again at the end); each run
has its own topic and consumer group, so nothing mixes with other data.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import httpx
import numpy as np
import numpy.typing as npt
import orjson
import uvicorn

from sendflowr.clock import ManualClock
from sendflowr.errors import ServiceError
from sendflowr.generator.block import EventBlock
from sendflowr.generator.model import Model
from sendflowr.generator.rows import incoming_rows
from sendflowr.serve.compose import build_role
from sendflowr.serve.contract import Resources, RoleHandle
from sendflowr.settings import Settings
from sendflowr.store import ClickHouseStore

__all__ = ["FlowFeed", "Stack", "StoreHistory", "experiment_settings"]

F64 = npt.NDArray[np.float64]

_HOURS = """
SELECT d.universal_id, toHour(d.ts) AS hour, count() AS delivered,
       countIf(e.message_id != '') AS engaged
FROM (
    SELECT universal_id, message_id, min(timestamp) AS ts FROM {table}
    WHERE event_type = 'delivered' AND message_id != '' AND universal_id != ''
      AND timestamp <= fromUnixTimestamp64Milli({now_ms:Int64})
    GROUP BY universal_id, message_id
) AS d
LEFT JOIN (
    SELECT DISTINCT message_id FROM {table}
    WHERE event_type IN ('opened', 'clicked') AND message_id != ''
      AND timestamp <= fromUnixTimestamp64Milli({now_ms:Int64})
) AS e ON d.message_id = e.message_id
GROUP BY d.universal_id, hour
"""


def experiment_settings(base: Settings, run_id: str) -> Settings:
    """Settings of one run: its own state folder, topic and consumer group; a sink that
    cuts chunks quickly (the loop waits for every step's events to be stored)."""
    return base.model_copy(
        update={
            "home": base.home / "experiments" / run_id,
            "topic": f"experiment-{run_id}",
            "dlq_topic": f"experiment-{run_id}-dlq",
            "consumer_group": f"sendflowr-experiment-{run_id}",
            "sink_max_wait_ms": 10,
            "api_key": None,
        }
    )


class StoreHistory:
    """The hourly arm's history, read from the run's ClickHouse store."""

    def __init__(self, store: ClickHouseStore) -> None:
        self._store = store

    def hour_counts(self, now_ms: int) -> dict[str, F64]:
        """Deliveries and engaged deliveries per recipient and UTC hour, up to ``now_ms``."""
        sql = _HOURS.replace("{table}", self._store.events_table)
        out: dict[str, F64] = {}
        for uid, hour, delivered, engaged in self._store.query(sql, {"now_ms": now_ms}).rows:
            counts = out.setdefault(str(uid), np.zeros((2, 24)))
            counts[0, int(hour)] = float(delivered)
            counts[1, int(hour)] = float(engaged)
        return out


@dataclass
class FlowFeed:
    """Publishes through the connector and waits until the sink stored every acknowledged
    event (counted in the store)."""

    model: Model
    url: str
    store: ClickHouseStore
    timeout: float = 120.0
    batch_size: int = 5000
    acknowledged: int = 0
    publish_s: float = 0.0
    sync_s: float = 0.0
    _client: httpx.Client | None = field(default=None, repr=False)

    def publish(self, block: EventBlock) -> None:
        """POST the events to the connector, which answers once Kafka has them all."""
        if not len(block):
            return
        began = time.perf_counter()
        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=60)
        rows = incoming_rows(self.model, block)
        for first in range(0, len(rows), self.batch_size):
            batch = rows[first : first + self.batch_size]
            self.acknowledged += self._post(orjson.dumps(batch), len(batch))
        self.publish_s += time.perf_counter() - began

    def _post(self, body: bytes, n: int) -> int:
        assert self._client is not None
        for attempt in range(8):
            response = self._client.post(
                "/api/events", content=body, headers={"content-type": "application/json"}
            )
            if response.is_success:
                answer = orjson.loads(response.content)
                if answer.get("rejected"):
                    raise ServiceError(f"the connector rejected events: {answer['rejected'][:1]}")
                return int(answer.get("accepted", 0))
            if response.status_code not in (429, 503) or attempt == 7:
                raise ServiceError(
                    f"connector answered {response.status_code}: {response.text[:300]}"
                )
            time.sleep(min(0.1 * 2**attempt, 5.0))
        raise ServiceError(f"{n} events were not acknowledged")

    def close(self) -> None:
        """Close the HTTP client."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def sync(self) -> None:
        """Block until the store holds every acknowledged event."""
        began = time.monotonic()
        deadline = began + self.timeout
        pause = 0.002
        while True:
            stored = self.store.count_events()
            if stored >= self.acknowledged:
                self.sync_s += time.monotonic() - began
                return
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"the sink stored {stored} of {self.acknowledged} events in {self.timeout}s"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.02)


class _Servers:
    """uvicorn servers for HTTP roles, on a background thread's event loop."""

    def __init__(self, handles: list[RoleHandle], host: str) -> None:
        self._servers = [
            uvicorn.Server(
                uvicorn.Config(h.app, host=host, port=h.port, log_level="warning", lifespan="on")
            )
            for h in handles
            if h.app is not None and h.port is not None
        ]
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 60.0) -> None:
        async def serve_all() -> None:
            await asyncio.gather(*(s.serve() for s in self._servers))

        self._thread = threading.Thread(
            target=lambda: asyncio.run(serve_all()), name="experiment-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not all(s.started for s in self._servers):
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                ports = ", ".join(str(s.config.port) for s in self._servers if not s.started)
                raise ServiceError(f"HTTP role(s) on port {ports} did not start (port taken?)")
            time.sleep(0.05)

    def stop(self) -> None:
        for s in self._servers:
            s.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


class Stack:
    """Connector, sink and inference of one run, in this process; ``start``/``stop``."""

    def __init__(
        self,
        settings: Settings,
        clock: ManualClock,
        *,
        refresh_seconds: float = 86_400.0,
    ) -> None:
        # The roles run on the simulation's clock; curves refresh when the loop says so,
        # each time a full fit: an incremental refresh picks recipients by when their
        # events were stored (wall clock), which would make a rerun of a seed differ.
        self.settings = settings.model_copy(update={
            "timing_refresh_seconds": refresh_seconds,
            "timing_full_fit_seconds": refresh_seconds,
        })  # fmt: skip
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.resources = Resources(self.settings, clock=clock)
        self._workers: list[RoleHandle] = []
        self._servers: _Servers | None = None
        self._http: list[RoleHandle] = []

    @property
    def connector_url(self) -> str:
        """Base URL of the connector."""
        return f"http://127.0.0.1:{self.settings.connector_port}"

    @property
    def inference_url(self) -> str:
        """Base URL of the inference API."""
        return f"http://127.0.0.1:{self.settings.inference_port}"

    def store(self) -> ClickHouseStore:
        """The run's store, on a session of the experiment's own."""
        return self.resources.store("experiment")

    def start(self) -> None:
        """Start the sink, then the connector and inference HTTP servers."""
        from sendflowr.kafka import ensure_topics, wait_ready

        s = self.settings
        wait_ready(s.kafka_bootstrap_servers)
        ensure_topics(s.kafka_bootstrap_servers, [(s.topic, s.topic_partitions), (s.dlq_topic, 1)])
        consumer = build_role("consumer", self.resources)
        connector = build_role("connector", self.resources)
        try:
            if consumer.start is not None:
                consumer.start()
                self._workers.append(consumer)
            inference = build_role("inference", self.resources)
            self._http = [connector, inference]
            self._servers = _Servers(self._http, "127.0.0.1")
            self._servers.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every role and close the store."""
        if self._servers is not None:
            self._servers.stop()
            self._servers = None
        # As `sendflowr serve` does: each HTTP role's own stop once its server is down (the
        # inference's live-context consumer, schedule producer and explanation writer);
        # left running, they outlived the run and retried a stopped broker until exit.
        while self._http:
            handle = self._http.pop()
            if handle.stop is not None:
                handle.stop()
        while self._workers:
            handle = self._workers.pop()
            if handle.stop is not None:
                handle.stop()
        self.resources.close()
