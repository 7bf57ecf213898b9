"""Columnar event blocks → event ids, JSON-ready rows and Arrow tables.

``incoming_rows`` is what the connector receives (raw address; HTTP only),
``canonical_rows`` and ``arrow_table`` what Kafka and files get (hash and
universal_id, never the address).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from sendflowr.generator.block import BOUNCE_TYPES, EVENT_CODES, EventBlock
from sendflowr.generator.model import CHANNEL_NAMES, Model, hour_minute_weekday
from sendflowr.generator.population import User, user

__all__ = ["canonical_rows", "event_ids", "incoming_rows", "iso_times"]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DASHES = (8, 13, 18, 23)
_SIGNAL_SOURCE = {
    "site_visit": "website",
    "product_view": "website",
    "sms_click": "twilio",
    "support_ticket": "zendesk",
    "complaint": "zendesk",
    "unsubscribe_request": "preference_center",
}
_MESSAGE_TYPES = 5  # codes below this are message events (sent … clicked)


def _uuid_bytes(block: EventBlock) -> npt.NDArray[np.uint8]:
    ms = block.ts.astype(np.uint64) & np.uint64((1 << 48) - 1)
    hi = (ms << np.uint64(16)) | np.uint64(0x7000) | (block.rand_hi & np.uint64(0x0FFF))
    lo = np.uint64(1 << 63) | (block.rand_lo >> np.uint64(2))
    return np.stack([hi, lo], axis=1).astype(">u8").view(np.uint8).reshape(-1, 16)


def event_ids(block: EventBlock) -> npt.NDArray[np.uint8]:
    """UUIDv7 text of every event as an (n, 36) ASCII array.

    The time part is the event's own timestamp, the random part comes from the
    user's seeded stream: same seed, same ids (no wall clock anywhere).
    """
    raw = _uuid_bytes(block)
    nibbles = np.empty((len(raw), 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    hexed = _HEX[nibbles]
    out = np.full((len(raw), 36), ord("-"), dtype=np.uint8)
    keep = [i for i in range(36) if i not in _DASHES]
    out[:, keep] = hexed
    return out


def _strings(ascii_rows: npt.NDArray[np.uint8]) -> list[str]:
    width = ascii_rows.shape[1] if ascii_rows.ndim == 2 else 0
    text = ascii_rows.tobytes().decode("ascii")
    return [text[i : i + width] for i in range(0, len(text), width)] if width else []


def iso_times(ms: npt.NDArray[np.int64]) -> list[str]:
    """``2025-10-01T06:12:00.000Z`` text of epoch milliseconds."""
    text = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms", timezone="UTC")
    return [str(t) for t in text.tolist()]


def _metadata(model: Model, persona: int, code: int, channel: int, provider: int) -> dict[str, Any]:
    etype = EVENT_CODES[code]
    meta: dict[str, Any] = {
        "persona": model.persona_names[persona],
        "channel": CHANNEL_NAMES[channel],
        "provider": model.provider_names[provider] if provider >= 0 else "internal",
        "test_data": True,
    }
    if code >= _MESSAGE_TYPES:
        meta["source"] = _SIGNAL_SOURCE[etype]
        meta["hot_path" if code < 8 else "circuit_breaker"] = True
    return meta


def _rows(
    model: Model, block: EventBlock, identity: Callable[[User], dict[str, str]]
) -> list[dict[str, Any]]:
    ids = _strings(event_ids(block))
    times = iso_times(block.ts)
    send_times = iso_times(np.maximum(block.send_ms, 0))
    hour, minute, weekday = hour_minute_weekday(np.maximum(block.send_ms, 0))
    users: dict[int, tuple[User, dict[str, str]]] = {}
    metas: dict[tuple[int, int, int, int], dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    columns = zip(
        block.user.tolist(),
        block.etype.tolist(),
        block.send_seq.tolist(),
        block.campaign.tolist(),
        block.provider.tolist(),
        block.channel.tolist(),
        block.latency.tolist(),
        block.queue.tolist(),
        block.payload.tolist(),
        block.bounce.tolist(),
        strict=True,
    )
    for i, (u, code, seq, camp, prov, chan, lat, queue, size, bounce) in enumerate(columns):
        if u not in users:
            who = user(model, u)
            users[u] = (who, identity(who))
        who, ident = users[u]
        key = (who.persona, code, chan, prov)
        meta = metas.get(key)
        if meta is None:
            meta = metas[key] = _metadata(model, *key)
        etype = EVENT_CODES[code]
        row: dict[str, Any] = {"event_id": ids[i], "event_type": etype, "timestamp": times[i]}
        row.update(ident)
        if who.zone != "UTC":  # absent means UTC
            row["timezone"] = who.zone
        if code < _MESSAGE_TYPES:
            name = model.campaign_names[camp]
            row["esp"] = model.provider_names[prov]
            row["campaign_id"] = model.campaign_ids[camp]
            row["campaign_name"] = name
            row["message_id"] = f"msg_{u:05d}_{seq:05d}"
            row["subject"] = f"{name} - Special Offer" if chan == 0 else name
            row["campaign_type"] = model.campaign_types[camp]
            if code == 4:
                row["click_url"] = f"https://shop.example.test/{model.campaign_ids[camp]}"
            elif code == 2:
                row["bounce_type"] = BOUNCE_TYPES[bounce]
            if code <= 1:
                row["payload_size_bytes"] = size
            if code == 1:
                row["latency_seconds"] = lat
                row["send_time"] = send_times[i]
                row["hour_of_day"] = int(hour[i])
                row["minute"] = int(minute[i])
                row["day_of_week"] = int(weekday[i])
                row["queue_depth_estimate"] = queue
        else:
            row["esp"] = "internal"
            row["campaign_id"] = "hot_path" if code < 8 else "circuit_breaker"
            row["campaign_name"] = etype.replace("_", " ").title()
        row["metadata"] = meta
        row["channel"] = CHANNEL_NAMES[chan]
        rows.append(row)
    return rows


def incoming_rows(model: Model, block: EventBlock) -> list[dict[str, Any]]:
    """Rows shaped like ``IncomingEvent`` (raw address: for the connector only)."""
    return _rows(
        model, block, lambda w: {"recipient_email": w.email, "recipient_id": w.recipient_id}
    )


def canonical_rows(model: Model, block: EventBlock) -> list[dict[str, Any]]:
    """Rows shaped like ``CanonicalEvent``: universal_id and email hash, no address."""
    return _rows(
        model,
        block,
        lambda w: {
            "universal_id": w.universal_id,
            "recipient_email_hash": w.email_hash,
            "recipient_id": w.recipient_id,
        },
    )
