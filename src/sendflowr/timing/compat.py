"""The reference inference contract (the seed system's Python service), beside ours.

A client written for the reference keeps working: its request fields are accepted
(``queue_depth_estimate``, ``latency_estimate_seconds``, ``hours_ahead``), its response
fields are present (``target_minute_utc`` is the week slot 0–10,079 as there, our absolute
time travels beside it as ``target_time_utc``), its query-parameter identity calls work
beside our JSON bodies, and ``GET /``, ``GET /scalar`` and its ``/features`` fields answer.

Where the reference is wrong we keep ours (README, "Coming from the seed system"):
latency is predicted for the chosen minute, not for "now" (``latency_estimate_seconds`` in a
request is accepted and ignored); an error is a 4xx with ``{error, field, reason}``, never a
200 carrying ``{"error": …}``; a link keeps the key type's own confidence (``weight`` is
echoed, not stored); peak windows do not overlap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Query, Request
from pydantic import ConfigDict, Field

from sendflowr.errors import ValidationError
from sendflowr.identity import IdentityKey, hash_email, key_of, key_set
from sendflowr.store import ClickHouseStore
from sendflowr.timing.grid import SLOTS_PER_WEEK, slot_label
from sendflowr.timing.schemas import IdentityKeys

__all__ = [
    "IDENTIFIER_TYPES",
    "PEAK_WINDOWS",
    "PEAK_WINDOW_MINUTES",
    "ClickStats",
    "ClickSummary",
    "LinkQuery",
    "MemoryClickStats",
    "PredictRequest",
    "StoreClickStats",
    "best_hour_within",
    "curve_confidence",
    "identifier_key",
    "link_pair",
    "link_query",
    "peak_windows",
    "reference_features",
    "reference_keys",
    "resolution_body",
    "root_body",
    "router",
]

#: The reference's ``IdentifierType`` values → our key types (``universal_id`` is the id itself).
IDENTIFIER_TYPES: Final[dict[str, str]] = {
    "email_hash": "email",
    "phone_number": "phone",
    "esp_user_id": "esp_user_id",
    "klaviyo_id": "klaviyo_id",
    "shopify_customer_id": "shopify_customer_id",
    "ip_device_signature": "device_id",
    "universal_id": "universal_id",
}
_SHA256_HEX: Final = re.compile(r"^[0-9a-fA-F]{64}$")
_UNIVERSAL_ID: Final = re.compile(r"^sf_[0-9a-f]{16}$")
#: The reference's peak windows: three windows of two hours.
PEAK_WINDOW_MINUTES: Final = 120
PEAK_WINDOWS: Final = 3

router = APIRouter()


# --- requests ----------------------------------------------------------------
class PredictRequest(IdentityKeys):
    """POST /predict: who (our identity keys, or the reference's ``recipient_id``) and the
    horizon in which to recommend the top of an hour."""

    model_config = ConfigDict(extra="forbid")

    hours_ahead: int = Field(
        default=24, ge=1, le=168, description="Recommend a send within this many hours."
    )

    def who(self) -> IdentityKeys:
        """The identity: a ``recipient_id`` shaped like a universal id is taken as one (the
        reference looked recipients up by universal id under that name)."""
        rid = (self.recipient_id or "").strip()
        if not self.universal_id and _UNIVERSAL_ID.match(rid):
            return IdentityKeys(universal_id=rid)
        return IdentityKeys(**self.model_dump(exclude={"hours_ahead"}))


def reference_keys(
    email: str | None = Query(None, max_length=256),
    phone: str | None = Query(None, max_length=32),
    klaviyo_id: str | None = Query(None, max_length=256),
    shopify_customer_id: str | None = Query(None, max_length=256),
    esp_user_id: str | None = Query(None, max_length=256),
) -> IdentityKeys | None:
    """The reference's ``/resolve-identity`` query parameters, or None when none is given."""
    given = {
        "email": email,
        "phone": phone,
        "klaviyo_id": klaviyo_id,
        "shopify_customer_id": shopify_customer_id,
        "esp_user_id": esp_user_id,
    }
    present = {k: v for k, v in given.items() if v is not None}
    return IdentityKeys(**present) if present else None


@dataclass(frozen=True, slots=True)
class LinkQuery:
    """The reference's ``/link-identifiers`` query: link ``identifier_a`` and ``identifier_b``."""

    identifier_a: str
    type_a: str
    identifier_b: str
    type_b: str
    weight: float
    source: str


def link_query(
    identifier_a: str | None = Query(None, max_length=256),
    type_a: str | None = Query(None, description=f"One of {', '.join(IDENTIFIER_TYPES)}"),
    identifier_b: str | None = Query(None, max_length=256),
    type_b: str | None = Query(None, description=f"One of {', '.join(IDENTIFIER_TYPES)}"),
    weight: float = Query(1.0, ge=0.0, le=1.0, description="Echoed; links keep their type's"),
    source: str = Query("api", max_length=128, description="Where the link comes from."),
) -> LinkQuery | None:
    """The reference's link query, or None when no identifier is given (a JSON body call)."""
    if identifier_a is None and identifier_b is None and type_a is None and type_b is None:
        return None
    for name, value in (
        ("identifier_a", identifier_a),
        ("type_a", type_a),
        ("identifier_b", identifier_b),
        ("type_b", type_b),
    ):
        if not value or not value.strip():
            raise ValidationError(name, "missing required field")
    assert identifier_a and type_a and identifier_b and type_b
    return LinkQuery(identifier_a, type_a, identifier_b, type_b, weight, source)


def identifier_key(value: str, identifier_type: str, field: str) -> IdentityKey | str:
    """Our key for a reference identifier; a ``universal_id`` comes back as the id string."""
    kind = IDENTIFIER_TYPES.get(identifier_type)
    if kind is None:
        known = ", ".join(IDENTIFIER_TYPES)
        raise ValidationError(
            field, f"unknown identifier type {identifier_type!r} (one of {known})"
        )
    value = value.strip()
    if kind == "universal_id":
        return value
    if kind == "email" and _SHA256_HEX.match(value):
        return IdentityKey("email", value.lower())  # already the hash the reference stores
    return key_of(kind, value)


def link_pair(resolver: Any, query: LinkQuery) -> dict[str, Any]:
    """Link the reference's two identifiers: a key to a universal_id, or two keys (the
    first is resolved — created if new — and the second linked to its identity).

    Links only add: a key already linked elsewhere stays there (the steps say so), and two
    universal ids are never merged.
    """
    a = identifier_key(query.identifier_a, query.type_a, "type_a")
    b = identifier_key(query.identifier_b, query.type_b, "type_b")
    if isinstance(a, str) and isinstance(b, str):
        raise ValidationError("type_b", "two universal ids cannot be linked (never merged)")
    if isinstance(b, str):
        a, b = b, a
    assert not isinstance(b, str)
    uid = a if isinstance(a, str) else resolver.resolve_many([key_set([a])])[0].universal_id
    res = resolver.link(uid, [b])
    inputs = {query.type_a: query.identifier_a, query.type_b: query.identifier_b}
    return {
        **resolution_body(res, {}),
        "status": "linked",
        "identifier_a": _shown(query.type_a, query.identifier_a),
        "identifier_b": _shown(query.type_b, query.identifier_b),
        "weight": query.weight,
        "source": query.source,
        "input_identifiers": {k: _shown(k, v) for k, v in inputs.items()},
    }


def _shown(identifier_type: str, value: str) -> str:
    # A raw address never goes back out (nor into logs): the reference's email_hash only.
    if IDENTIFIER_TYPES.get(identifier_type) == "email" and "@" in value:
        return hash_email(value)
    return value


# --- responses ---------------------------------------------------------------
def resolution_body(res: Any, inputs: dict[str, str]) -> dict[str, Any]:
    """A resolution in both shapes: ours (``confidence, created, steps``) and the
    reference's (``input_identifiers`` — emails only as their hash —, ``resolution_steps``,
    ``confidence_score``, ``resolved_at``)."""
    shown = {k: (hash_email(v) if k == "email" else v) for k, v in inputs.items()}
    return {
        "universal_id": res.universal_id,
        "confidence": res.confidence,
        "created": res.created,
        "steps": list(res.steps),
        "input_identifiers": shown,
        "resolved_identifiers": shown,
        "resolution_steps": list(res.steps),
        "confidence_score": res.confidence,
        "resolved_at": datetime.now(UTC).isoformat(),
    }


def best_hour_within(probs: list[float], now: datetime, hours_ahead: int) -> tuple[int, datetime]:
    """The most likely hour of day among the next ``hours_ahead`` tops of the hour, and
    the first such top of the hour (UTC)."""
    first = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    starts = [first + timedelta(hours=i) for i in range(hours_ahead)]
    at = max(starts, key=lambda t: (probs[t.hour], -t.timestamp()))
    return at.hour, at


def curve_confidence(curve: npt.ArrayLike) -> float:
    """1 − normalised entropy of a week curve: 0 for a flat curve, 1 for one spike."""
    p = np.asarray(curve, dtype=np.float64)
    total = float(p.sum())
    if total <= 0:
        return 0.0
    p = p[p > 0] / total
    entropy = float(-(p * np.log(p)).sum())
    return max(0.0, 1.0 - entropy / float(np.log(SLOTS_PER_WEEK)))


def peak_windows(
    curve: npt.ArrayLike, *, minutes: int = PEAK_WINDOW_MINUTES, top: int = PEAK_WINDOWS
) -> list[dict[str, Any]]:
    """The ``top`` non-overlapping windows of ``minutes`` with the highest mean probability
    (circular over the week): ``{minute_slot, readable, probability}`` each."""
    p = np.asarray(curve, dtype=np.float64)
    total = float(p.sum())
    p = p / total if total > 0 else np.full(SLOTS_PER_WEEK, 1.0 / SLOTS_PER_WEEK)
    wrapped = np.concatenate([p, p[: minutes - 1]])
    sums = np.convolve(wrapped, np.ones(minutes), mode="valid")[:SLOTS_PER_WEEK]
    means = sums / minutes
    out: list[dict[str, Any]] = []
    free = np.ones(SLOTS_PER_WEEK, dtype=bool)
    for _ in range(top):
        if not free.any():
            break
        start = int(np.argmax(np.where(free, means, -np.inf)))
        out.append(
            {
                "minute_slot": start,
                "readable": slot_label(start),
                "probability": float(means[start]),
            }
        )
        # No window may overlap this one: starts within `minutes` either side are taken.
        for d in range(-minutes + 1, minutes):
            free[(start + d) % SLOTS_PER_WEEK] = False
    return out


@dataclass(frozen=True, slots=True)
class ClickSummary:
    """A recipient's clicks: counts over the last 7 and 30 days and the last click's time."""

    count_7d: int = 0
    count_30d: int = 0
    last_click: datetime | None = None


class ClickStats(Protocol):
    """Where a recipient's click counts come from."""

    def clicks(self, universal_id: str, now: datetime) -> ClickSummary: ...


class StoreClickStats:
    """Click counts from the events table (one small query per call)."""

    def __init__(self, store: ClickHouseStore) -> None:
        self._store = store

    def clicks(self, universal_id: str, now: datetime) -> ClickSummary:
        """Counts of ``clicked`` events up to ``now``."""
        sql = (
            "SELECT countIf(timestamp > {d7:DateTime64(3, 'UTC')}),"  # noqa: S608
            " countIf(timestamp > {d30:DateTime64(3, 'UTC')}),"
            " if(count() = 0, NULL, max(timestamp))"
            f" FROM {self._store.events_table}"
            " WHERE universal_id = {uid:String} AND event_type = 'clicked'"
            " AND timestamp <= {now:DateTime64(3, 'UTC')}"
        )
        params = {
            "uid": universal_id,
            "now": now,
            "d7": now - timedelta(days=7),
            "d30": now - timedelta(days=30),
        }
        row = self._store.query(sql, params).rows[0]
        last = row[2]
        if isinstance(last, datetime) and last.tzinfo is None:
            last = last.replace(tzinfo=UTC)
        return ClickSummary(int(row[0]), int(row[1]), last)


class MemoryClickStats:
    """Click counts from a list of click times per recipient (tests, examples)."""

    def __init__(self, clicks: dict[str, list[datetime]] | None = None) -> None:
        self._clicks = clicks or {}

    def clicks(self, universal_id: str, now: datetime) -> ClickSummary:
        """Counts of the clicks at or before ``now``."""
        times = [t for t in self._clicks.get(universal_id, []) if t <= now]
        return ClickSummary(
            sum(t > now - timedelta(days=7) for t in times),
            sum(t > now - timedelta(days=30) for t in times),
            max(times) if times else None,
        )


def reference_features(
    ours: dict[str, Any], curve: npt.ArrayLike, clicks: ClickSummary, now: datetime
) -> dict[str, Any]:
    """Our features with the reference's fields added (``version``, ``curve_confidence``,
    ``peak_windows``, ``click_count_7d``/``30d``, ``last_click_ts``, ``computed_at``)."""
    return {
        **ours,
        "version": ours.get("curve_version"),
        "curve_confidence": curve_confidence(curve),
        "peak_windows": peak_windows(curve),
        "click_count_30d": clicks.count_30d,
        "click_count_7d": clicks.count_7d,
        "last_click_ts": clicks.last_click.isoformat() if clicks.last_click else None,
        "computed_at": now.isoformat(),
    }


# --- routes of the reference that we did not have ----------------------------
def root_body(title: str, version: str) -> dict[str, Any]:
    """``GET /``: what this service is and where its endpoints and docs are."""
    return {
        "service": title,
        "version": version,
        "documentation": {
            "swagger": "/docs",
            "scalar": "/scalar",
            "redoc": "/redoc",
            "openapi": "/openapi.json",
        },
        "endpoints": {
            "timing_decision": "/timing-decision (primary)",
            "timing_decisions": "/timing-decisions (audience)",
            "predict": "/predict (legacy hourly fallback)",
            "features": "/features/{universal_id}",
            "compute_features": "/compute-features",
            "resolve_identity": "/resolve-identity",
            "link_identifiers": "/link-identifiers",
            "explanations": "/explanations/{decision_id}",
            "health": "/health",
        },
    }


@router.get("/", tags=["ops"])
def root(request: Request) -> dict[str, Any]:
    """The service, its version, its endpoints and where its docs are."""
    app = request.app
    return root_body(app.title, app.version)
