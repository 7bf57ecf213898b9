"""Request and response bodies of the inference API (pydantic, shown in the OpenAPI docs)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NaiveDatetime,
    field_validator,
)

__all__ = [
    "BatchDecisionRequest",
    "BatchDecisionResponse",
    "CapacityIn",
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

#: The widest values stored (``UInt32`` columns): larger ones are refused at the door.
MAX_UINT32: Final = 2**32 - 1
#: Send windows lie within these years (as event timestamps do); date arithmetic stays safe.
FIRST_TIME: Final = datetime(1900, 1, 1, tzinfo=UTC)
LAST_TIME: Final = datetime(2299, 12, 31, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    if not FIRST_TIME <= value <= LAST_TIME:
        raise ValueError(f"must lie between {FIRST_TIME.year} and {LAST_TIME.year}")
    return value


#: An aware datetime between 1900 and 2299.
WindowTime = Annotated[AwareDatetime, AfterValidator(_in_range)]


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

    send_after: WindowTime | None = Field(
        default=None, description="Earliest delivery time (UTC); default now."
    )
    send_before: WindowTime | None = Field(
        default=None, description="Latest delivery time (UTC); default send_after + 7 days."
    )
    channel: str = Field(
        default="email", max_length=16, description="email | sms | push (null: email)"
    )
    provider: str | None = Field(default=None, max_length=64, examples=["sendgrid"])
    campaign_type: str | None = Field(default=None, max_length=64, examples=["promotional"])
    payload_size_bytes: int | None = Field(default=None, ge=0, le=MAX_UINT32)
    queue_depth: int | None = Field(
        default=None,
        ge=0,
        le=MAX_UINT32,
        description="Sender's current queue (the reference's name is accepted too).",
        validation_alias=AliasChoices("queue_depth", "queue_depth_estimate"),
    )
    latency_estimate_seconds: float | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="Accepted for the reference contract and ignored: latency is predicted "
        "for the chosen minute from channel, provider, time, payload and queue.",
    )
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
    explore_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Share of decisions that explore (0 = none); default from the settings.",
    )

    @field_validator("channel", mode="before")
    @classmethod
    def _default_channel(cls, value: object) -> object:
        # The reference contract sends null for "no channel given".
        return "email" if value is None else value


class CapacityIn(BaseModel):
    """Most sends per minute the audience is spread within."""

    model_config = ConfigDict(extra="forbid")

    per_minute: int | None = Field(default=None, ge=1, description="Overall, every provider.")
    per_provider: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict, description="Per provider name; the batch's provider's applies."
    )


class TimingRequest(IdentityKeys, WindowFields):
    """POST /timing-decision."""


class BatchDecisionRequest(WindowFields):
    """POST /timing-decisions: up to 100,000 recipients sharing one window."""

    model_config = ConfigDict(extra="forbid")

    recipients: list[Recipient] = Field(min_length=1, max_length=_MAX_BATCH)
    capacity: CapacityIn | None = Field(
        default=None, description="Spread the audience within this many sends per minute."
    )


class DecisionOut(BaseModel):
    """One timing decision (docs/engine.md)."""

    decision_id: str
    universal_id: str
    target_minute_utc: int = Field(
        ge=0, le=10079, description="Minute of the week (slot 0 = Monday 00:00 UTC)."
    )
    target_time_utc: AwareDatetime = Field(description="The target minute as a UTC time.")
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
    suppressed_until: AwareDatetime | None = Field(
        default=None, description="The recommendation waits for this suppression to end."
    )
    recipient_id: str = Field(description="As given (the reference's field), else the id.")
    peak_hour: int = Field(ge=0, le=23, description="Hour of recommended_send_time_utc.")
    peak_probability: float
    hours_ahead: int
    note: str


class LinkRequest(IdentityKeys):
    """POST /link-identifiers: add keys to an existing identity."""


class ResolutionOut(BaseModel):
    """An identity resolution and its audit steps (ours, and the reference's field names).

    The reference's query-parameter ``/link-identifiers`` call adds ``status: "linked"``,
    ``identifier_a``, ``identifier_b``, ``weight`` and ``source``.
    """

    universal_id: str
    confidence: float
    created: bool
    steps: list[str]
    input_identifiers: dict[str, str] = Field(description="Emails only as their SHA-256.")
    resolved_identifiers: dict[str, str]
    resolution_steps: list[str]
    confidence_score: float
    resolved_at: AwareDatetime
