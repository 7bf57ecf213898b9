"""The sink's metrics app answers GET /metrics in the Prometheus text format."""

from __future__ import annotations

import asyncio

import httpx

from sendflowr.sink.metrics import SinkMetrics


def test_metrics_app_serves_the_registry() -> None:
    metrics = SinkMetrics()
    metrics.records.labels("stored").inc(3)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=metrics.app())
        async with httpx.AsyncClient(transport=transport, base_url="http://sink") as client:
            return await client.get("/metrics")

    response = asyncio.run(get())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'sendflowr_sink_records_total{outcome="stored"} 3.0' in response.text
