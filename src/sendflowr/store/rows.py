"""Canonical events → the columns of ``email_events`` (columnar, for one insert)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson

from sendflowr.events import CanonicalEvent
from sendflowr.store.schema import EVENT_COLUMN_NAMES

__all__ = ["events_to_columns"]

_PLAIN = (
    "event_type",
    "timestamp",
    "esp",
    "universal_id",
    "recipient_email_hash",
    "recipient_id",
    "campaign_id",
    "campaign_name",
    "message_id",
    "subject",
    "click_url",
    "bounce_type",
    "user_agent",
    "ip_address",
    "latency_seconds",
    "send_time",
    "hour_of_day",
    "minute",
    "day_of_week",
    "campaign_type",
    "payload_size_bytes",
    "queue_depth_estimate",
    "channel",
)


def events_to_columns(
    events: Sequence[CanonicalEvent], ingested_at: datetime
) -> dict[str, list[Any]]:
    """Columns for ``store.insert_columns('email_events', …)``, in table order.

    ``ingested_at`` fills events that do not carry one; ``metadata`` is stored as
    a JSON object text.
    """
    columns: dict[str, list[Any]] = {
        "event_id": [UUID(e.event_id) for e in events],
    }
    for name in _PLAIN:
        columns[name] = [getattr(e, name) for e in events]
    columns["metadata"] = [orjson.dumps(e.metadata).decode() for e in events]
    columns["ingested_at"] = [e.ingested_at or ingested_at for e in events]
    return {name: columns[name] for name in EVENT_COLUMN_NAMES}
