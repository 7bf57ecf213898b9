"""``--sink connector`` (the default): batches to ``POST /api/events``, the production flow.

Each request carries one batch (a JSON array of ``IncomingEvent``); at most
``concurrency`` requests are in flight and at most ``rate`` start per second
(the seed's limit is 100 requests/s). 503 (Kafka down: ``Retry-After``), 429,
other 5xx and connection errors are retried with exponential backoff; event ids
are stable, so a resent batch adds no duplicates downstream.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import httpx
import orjson

from sendflowr.errors import ConnectorUnavailable
from sendflowr.generator.block import EventBlock
from sendflowr.generator.model import Model
from sendflowr.generator.outputs.base import OutputStats
from sendflowr.generator.rows import incoming_rows

__all__ = ["ConnectorOutput", "RateLimiter"]

_RETRY_STATUS = {429, 500, 502, 503, 504}


class RateLimiter:
    """At most ``rate`` acquisitions per second, spaced evenly, across threads."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until the next slot; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            at = max(now, self._next)
            self._next = at + self._interval
        delay = at - now
        if delay > 0:
            time.sleep(delay)
        return delay


class ConnectorOutput:
    """Posts batches to the connector and counts what it acknowledged."""

    name = "connector"

    def __init__(
        self,
        model: Model,
        url: str,
        *,
        batch_size: int = 500,
        concurrency: int = 4,
        rate: float = 100.0,
        max_attempts: int = 8,
        max_backoff: float = 30.0,
        timeout: float = 60.0,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._model = model
        self._url = url.rstrip("/")
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._limiter = RateLimiter(rate)
        self._max_attempts = max_attempts
        self._max_backoff = max_backoff
        self._timeout = timeout
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["x-api-key"] = api_key
        self._transport = transport
        self._client: httpx.Client | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self.errors: list[str] = []
        self.stats = OutputStats()

    def open(self) -> None:
        """Create the HTTP client and check that something listens at the URL."""
        limits = httpx.Limits(max_connections=self._concurrency * 2)
        self._client = httpx.Client(timeout=self._timeout, limits=limits, transport=self._transport)
        try:
            self._client.get(f"{self._url}/health", timeout=10)
        except httpx.TransportError as exc:
            self._client.close()
            raise ConnectorUnavailable(self._url, type(exc).__name__) from exc
        self._pool = ThreadPoolExecutor(self._concurrency, thread_name_prefix="generate-post")

    def write(self, block: EventBlock) -> None:
        """Split the block into batches and post them (at most ``concurrency`` at once)."""
        assert self._pool is not None, "open() first"
        rows = incoming_rows(self._model, block)
        for start in range(0, len(rows), self._batch_size):
            batch = rows[start : start + self._batch_size]
            while len(self._pending) >= self._concurrency * 2:
                done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    fut.result()
            with self._lock:
                self.stats.sent += len(batch)
            self._pending.add(self._pool.submit(self._post, orjson.dumps(batch), len(batch)))

    def _error(self, n: int, message: str) -> None:
        with self._lock:
            self.stats.failed += n
            if len(self.errors) < 10:
                self.errors.append(message)

    def _post(self, body: bytes, n: int) -> None:
        assert self._client is not None
        url = f"{self._url}/api/events"
        for attempt in range(self._max_attempts):
            self._limiter.acquire()
            with self._lock:
                self.stats.requests += 1
                if attempt:
                    self.stats.retries += 1
            wait_s = min(self._max_backoff, 0.25 * 2**attempt) * random.uniform(0.8, 1.2)
            try:
                response = self._client.post(url, content=body, headers=self._headers)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    try:
                        answer = orjson.loads(response.content)
                        accepted = int(answer.get("accepted", 0))
                        rejected = answer.get("rejected") or []
                    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                        self._error(n, f"unexpected answer: {response.text[:200]}")
                        return
                    with self._lock:
                        self.stats.acknowledged += accepted
                    if rejected:
                        self._error(len(rejected), f"rejected: {rejected[0]}")
                    return
                if response.status_code not in _RETRY_STATUS:
                    self._error(n, f"HTTP {response.status_code}: {response.text[:300]}")
                    return
                last = f"HTTP {response.status_code}"
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():
                    wait_s = min(self._max_backoff * 2, float(retry_after))
            if attempt + 1 < self._max_attempts:
                time.sleep(wait_s)
        self._error(n, f"gave up after {self._max_attempts} attempts: {last}")

    def close(self) -> None:
        """Wait for every batch, then close the client."""
        if self._pool is not None:
            for fut in self._pending:
                fut.result()
            self._pending.clear()
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
