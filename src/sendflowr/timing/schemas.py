"""Request and response bodies of the inference API (pydantic, shown in the OpenAPI docs)."""

from __future__ import annotations

from datetime import time
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, NaiveDatetime

__all__ = [
    "BatchDecisionRequest",
    "BatchDecisionResponse",
    "DecisionOut",
    "HourlyPrediction",
    "IdentityKeys",
    "LinkRequest",
    "QuietHours",
    "Recipient",
    "ResolutionOut",
    "SkippedOut",
    "TimingRequest",
    "WindowFields",
]

_MAX_BATCH = 100_000


class IdentityKeys(BaseModel):
    """Who: a universal_id, or identity keys resolved through the identity module."""

    model_config = ConfigDict(extra="forbid")

    universal_id: str | None = Field(default=None, max_length=64, examples=["sf_3f2a9c1d7e5b4a60"])
    email: str | None = Field(default=None, max_length=256, description="Hashed on arrival.")
    phone: str | None = Field(default=None, max_length=32)
    recipient_id: str | None = Field(default=None, max_length=256)
    esp_user_id: str | None = Field(default=None, max_length=256)
    klaviyo_id: str | None = Field(default=None, max_length=256)
    shopify_customer_id: str | None = Field(default=None, max_length=256)

    def keys(self) -> dict[str, str]:
        """The identity keys given (everything but universal_id)."""
        names = [n for n in IdentityKeys.model_fields if n != "universal_id"]
        values = {n: getattr(self, n) for n in names}
        return {k: v for k, v in values.items() if isinstance(v, str) and v.strip()}


class Recipient(IdentityKeys):
    """A batch recipient: who, and optionally the IANA zone they live in."""

    timezone: str | None = Field(
        default=None, max_length=64, description="Overrides the batch's timezone for this one."
    )


class QuietHours(BaseModel):
    """Local hours no message may arrive in; ``start > end`` wraps midnight (21:00–08:00)."""

    model_config = ConfigDict(extra="forbid")

    start: time = Field(examples=["21:00"])
    end: time = Field(examples=["08:00"])


class WindowFields(BaseModel):
    """When and how the message will go out."""

    send_after: AwareDatetime | None = Field(
        default=None, description="Earliest delivery time (UTC); default now."
    )
    send_before: AwareDatetime | None = Field(
        default=None, description="Latest delivery time (UTC); default send_after + 7 days."
    )
    channel: str = Field(default="email", description="email | sms | push")
    provider: str | None = Field(default=None, examples=["sendgrid"])
    campaign_type: str | None = Field(default=None, examples=["promotional"])
    payload_size_bytes: int | None = Field(default=None, ge=0)
    queue_depth: int | None = Field(default=None, ge=0, description="Sender's current queue.")
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone of the recipient(s); without it the stored zone, else one "
        "inferred from activity, else UTC (the answer says which).",
        examples=["America/New_York"],
    )
    send_after_local: NaiveDatetime | None = Field(
        default=None,
        description="Earliest delivery as a local wall-clock time (no offset), read in each "
        "recipient's zone; instead of send_after.",
        examples=["2025-10-27T08:00:00"],
    )
    send_before_local: NaiveDatetime | None = Field(
        default=None,
        description="Latest delivery as a local wall-clock time; instead of send_before.",
        examples=["2025-10-27T10:00:00"],
    )
    quiet_hours: QuietHours | None = Field(
        default=None, description="Local hours no message may arrive in."
    )


class TimingRequest(IdentityKeys, WindowFields):
    """POST /timing-decision."""


class BatchDecisionRequest(WindowFields):
    """POST /timing-decisions: up to 100,000 recipients sharing one window."""

    model_config = ConfigDict(extra="forbid")

    recipients: list[Recipient] = Field(min_length=1, max_length=_MAX_BATCH)


class DecisionOut(BaseModel):
    """One timing decision (SPEC §5)."""

    decision_id: str
    universal_id: str
    target_minute_utc: AwareDatetime
    trigger_timestamp_utc: AwareDatetime
    latency_estimate_seconds: float
    confidence_score: float
    model_version: str
    explanation_ref: str
    created_at_utc: AwareDatetime
    debug: dict[str, Any]
    timezone: str = Field(description="The recipient's clock: IANA, UTC±hh:mm (inferred) or UTC.")
    target_local: AwareDatetime = Field(description="The target minute in local time.")
    utc_offset: str = Field(description="Offset of target_local, e.g. -05:00.")
    zone_source: str = Field(description="request | stored | inferred | default")
    zone_confidence: float


class SkippedOut(BaseModel):
    """A batch recipient whose whole window is suppressed."""

    universal_id: str
    reason: str
    suppressed_until: AwareDatetime | None


class BatchDecisionResponse(BaseModel):
    """POST /timing-decisions answer."""

    count: int
    decisions: list[DecisionOut]
    skipped: list[SkippedOut]


class HourlyPrediction(BaseModel):
    """POST /predict: the legacy hourly send-time optimisation (a projection of the curve)."""

    universal_id: str
    hourly_probabilities: list[float]
    best_hour_utc: int
    recommended_send_time_utc: AwareDatetime
    cold_start: bool
    model_version: str


class LinkRequest(IdentityKeys):
    """POST /link-identifiers: add keys to an existing identity."""


class ResolutionOut(BaseModel):
    """An identity resolution and its audit steps."""

    universal_id: str
    confidence: float
    created: bool
    steps: list[str]
