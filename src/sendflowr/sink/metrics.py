"""Prometheus metrics of the sink, on a registry of its own.

Exposed over HTTP by the consumer role when ``SENDFLOWR_SINK_METRICS_PORT`` is
set (``GET /metrics``); another app can serve ``SinkMetrics.text()`` itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["SinkMetrics"]


class SinkMetrics:
    """Counters, gauges and histograms of one sink instance."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.records = Counter(
            "sendflowr_sink_records",
            "Records consumed, by outcome (stored, duplicate, dead_letter).",
            ["outcome"],
            registry=r,
        )
        self.batches = Counter(
            "sendflowr_sink_batches", "Partition chunks written and committed.", registry=r
        )
        self.replays = Counter(
            "sendflowr_sink_replayed_batches",
            "Chunks re-cut at an announced boundary after a crash, restart or rebalance.",
            registry=r,
        )
        self.replayed_rows = Counter(
            "sendflowr_sink_replay_missing_rows",
            "Rows of replayed chunks that the store turned out not to hold (written again "
            "under a token of their own).",
            registry=r,
        )
        self.insert_failures = Counter(
            "sendflowr_sink_insert_failures", "Failed ClickHouse inserts (retried).", registry=r
        )
        self.bots = Counter(
            "sendflowr_sink_suspected_bots", "Events flagged as likely machine traffic.", registry=r
        )
        self.insert_seconds = Histogram(
            "sendflowr_sink_insert_seconds",
            "Duration of one ClickHouse insert.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_rows = Histogram(
            "sendflowr_sink_batch_rows",
            "Rows per partition chunk.",
            buckets=(1, 10, 100, 1_000, 5_000, 10_000, 20_000, 50_000, 100_000),
            registry=r,
        )
        self.lag = Gauge(
            "sendflowr_sink_lag",
            "Records behind the high watermark, per partition (last known).",
            ["partition"],
            registry=r,
        )
        self.buffered = Gauge(
            "sendflowr_sink_buffered_records",
            "Records held in memory, not yet written.",
            registry=r,
        )
        self.last_commit = Gauge(
            "sendflowr_sink_last_commit_timestamp_seconds",
            "Unix time of the last offset commit.",
            registry=r,
        )

    def text(self) -> bytes:
        """These metrics in the Prometheus text format."""
        data: bytes = generate_latest(self.registry)
        return data

    def app(self) -> Any:
        """An ASGI app serving ``GET /metrics`` (with a lifespan, as ``serve`` runs it)."""
        app = FastAPI(title="SendFlowr sink metrics", docs_url=None, redoc_url=None)

        @app.get("/metrics")
        def metrics() -> Response:
            return Response(self.text(), media_type=CONTENT_TYPE_LATEST)

        return app
