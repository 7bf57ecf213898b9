"""Configuration of confluent-kafka producers and consumers, built from Settings."""

from __future__ import annotations

from typing import Any

from sendflowr.settings import Settings

__all__ = ["consumer_config", "producer_config"]


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """An idempotent, batching, compressing producer (acks=all)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 5,
        "batch.size": 1_000_000,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1_048_576,
        "message.timeout.ms": 30_000,
        "socket.timeout.ms": 10_000,
    }
    config.update(overrides)
    return config


def consumer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """A consumer in the sink's group; offsets are stored and committed by hand."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "group.id": settings.consumer_group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "partition.assignment.strategy": "cooperative-sticky",
        "fetch.max.bytes": 52_428_800,
        "max.partition.fetch.bytes": 10_485_760,
        "session.timeout.ms": 10_000,
    }
    config.update(overrides)
    return config
