"""Prometheus metrics of one connector app (its own registry, so apps never clash)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "ConnectorMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class ConnectorMetrics:
    """Counters of accepted, rejected and published events; publish latency; requests."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.accepted = Counter(
            "sendflowr_connector_events_accepted", "Events that passed validation.", registry=r
        )
        self.rejected = Counter(
            "sendflowr_connector_events_rejected",
            "Events rejected by validation, by source.",
            ["source"],
            registry=r,
        )
        self.published = Counter(
            "sendflowr_connector_events_published", "Events Kafka acknowledged.", registry=r
        )
        self.publish_failures = Counter(
            "sendflowr_connector_publish_failures",
            "Requests answered 503 because Kafka did not acknowledge.",
            registry=r,
        )
        self.publish_latency = Histogram(
            "sendflowr_connector_publish_latency_seconds",
            "Time from produce to the last delivery report of a request.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.requests = Counter(
            "sendflowr_connector_requests",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=r,
        )
        self.signature_failures = Counter(
            "sendflowr_connector_webhook_signature_failures",
            "Webhook requests refused for their signature.",
            ["provider"],
            registry=r,
        )
        self.identity_cache_hits = Counter(
            "sendflowr_connector_identity_cache_hits",
            "Identity resolutions answered from the process cache.",
            registry=r,
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
