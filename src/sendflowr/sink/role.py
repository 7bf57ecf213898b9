"""The consumer role: ``sendflowr serve --role consumer``.

A worker role (``start``/``stop``); with ``SENDFLOWR_SINK_METRICS_PORT`` set it
also serves its Prometheus metrics at ``/metrics`` on that port.
"""

from __future__ import annotations

from sendflowr.serve.contract import Resources, RoleHandle
from sendflowr.sink.consumer import SinkConsumer
from sendflowr.sink.metrics import SinkMetrics

__all__ = ["build"]


def build(resources: Resources) -> RoleHandle:
    """The consumer role on the process's shared store."""
    settings = resources.settings
    metrics = SinkMetrics()
    holder: list[SinkConsumer] = []

    def start() -> None:
        sink = SinkConsumer(settings, resources.store("ingest"), metrics, clock=resources.clock)
        holder.append(sink)
        sink.start()
        resources.store_health()  # the connector and inference read it for readiness

    def stop() -> None:
        while holder:
            holder.pop().stop()

    port = settings.sink_metrics_port
    return RoleHandle(
        name="consumer",
        app=metrics.app() if port is not None else None,
        port=port,
        start=start,
        stop=stop,
    )
