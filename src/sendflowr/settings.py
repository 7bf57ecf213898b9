"""Settings, built once at the edge (CLI or app factory) and passed down.

Every field reads ``SENDFLOWR_<NAME>`` from the environment, except the two
conventional names ``KAFKA_BOOTSTRAP_SERVERS`` and ``CLICKHOUSE_URL``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Frozen configuration of every SendFlowr role."""

    model_config = SettingsConfigDict(
        env_prefix="SENDFLOWR_", frozen=True, extra="ignore", populate_by_name=True
    )

    # --- state -------------------------------------------------------------
    home: Path = Field(default=Path(".sendflowr"), description="State folder (SENDFLOWR_HOME).")

    # --- Kafka -------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "SENDFLOWR_KAFKA_BOOTSTRAP_SERVERS"
        ),
        description="Brokers to use; unset = the local broker on kafka_port.",
    )
    kafka_version: str = "4.1.1"
    kafka_port: int = Field(default=9092, description="Local broker's client port.")
    kafka_controller_port: int = Field(default=9093, description="Local KRaft controller port.")
    kafka_heap: str = "1g"
    topic: str = "email-events"
    dlq_topic: str = "email-events-dlq"
    topic_partitions: int = Field(default=3, ge=1)
    consumer_group: str = "sendflowr-consumer"

    # --- ClickHouse --------------------------------------------------------
    clickhouse_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("CLICKHOUSE_URL", "SENDFLOWR_CLICKHOUSE_URL"),
        description="http(s)://user:pass@host:port of a ClickHouse server; unset = embedded chDB.",
    )
    clickhouse_database: str = "sendflowr"

    # --- HTTP roles ----------------------------------------------------------
    host: str = "127.0.0.1"
    connector_port: int = 5215
    inference_port: int = 8001
    admin_port: int = Field(
        default=5216,
        description="Loopback-only admin API of `sendflowr serve` (read-only SQL, status).",
    )
    api_key: SecretStr | None = Field(
        default=None, description="Required on write endpoints if set."
    )
    mock_endpoints: bool = Field(
        default=False,
        description="Serve /api/mock/* endpoints (off by default; `sendflowr up` turns them on).",
    )
    connector_strict_timestamps: bool = Field(
        default=False,
        description="Refuse zone-less timestamps on /api/mock/events/synthetic too (else UTC).",
    )
    connector_max_events: int = Field(default=10_000, ge=1, description="Events per request.")
    connector_max_bytes: int = Field(default=10_485_760, ge=1, description="Request body bytes.")
    connector_publish_timeout_ms: int = Field(
        default=10_000, ge=100, description="Kafka delivery wait before a 503."
    )

    # --- identity ----------------------------------------------------------
    identity_url: str | None = Field(
        default=None, description="postgresql://… for the identity store; unset = SQLite file."
    )

    # --- webhooks ----------------------------------------------------------
    klaviyo_webhook_secret: SecretStr | None = None
    sendgrid_webhook_secret: SecretStr | None = None
    sendgrid_public_key: str | None = Field(
        default=None, description="SendGrid's ECDSA verification key (base64 DER or PEM)."
    )
    webhook_tolerance_seconds: int = 300

    # --- sink --------------------------------------------------------------
    sink_batch_size: int = Field(
        default=20_000, ge=1, description="Most records per partition chunk (one insert)."
    )
    sink_max_wait_ms: int = Field(
        default=500, ge=1, description="Longest a record waits in memory before its chunk is cut."
    )
    sink_dedup_lookup: bool = Field(
        default=True,
        description=(
            "Before each insert, drop events whose event_id ClickHouse already holds "
            "(a chunk replayed after a crash is checked either way)."
        ),
    )
    sink_recent_ids: int = Field(
        default=1_000_000,
        ge=0,
        description=(
            "Event ids the sink remembers (~90 B each) to drop re-sent copies; with the "
            "embedded store, a table that fits is checked from memory alone."
        ),
    )
    sink_metrics_port: int | None = Field(
        default=None, description="Serve the sink's Prometheus /metrics on this port; unset = off."
    )
    sink_fault: str | None = Field(
        default=None, description="Crash-test hook, e.g. after-insert:3 (SIGKILL); never in prod."
    )

    # --- timing (inference) -------------------------------------------------
    timing_half_life_hours: float = Field(
        default=72.0, gt=0, description="Recency half-life of a recipient's recent evidence."
    )
    timing_long_half_life_hours: float = Field(
        default=2160.0,
        gt=0,
        description="Half-life of the long-run profile the recent one shrinks to.",
    )
    timing_open_weight: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Weight of a human open (machine opens are excluded) relative to a click.",
    )
    timing_refresh_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Curves are refreshed (recipients with new evidence refitted) when older.",
    )
    timing_full_fit_seconds: float = Field(
        default=86_400.0,
        gt=0,
        description="A refresh is a full fit (segments and global prior too) when the last "
        "full fit is older than this.",
    )
    timing_explore_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Share of decisions that explore; 0 turns it off; unset = the engine's 3%.",
    )
    timing_explore_seed: int = Field(
        default=0, description="Seed choosing which decisions explore, and where."
    )

    @model_validator(mode="after")
    def _local_bootstrap(self) -> Settings:
        """Without brokers named, clients use the local broker on ``kafka_port``: setting
        SENDFLOWR_KAFKA_PORT alone moves the broker and every client with it."""
        if "kafka_bootstrap_servers" not in self.model_fields_set:
            object.__setattr__(self, "kafka_bootstrap_servers", f"127.0.0.1:{self.kafka_port}")
        return self

    @property
    def clickhouse_path(self) -> Path:
        """Data folder of the embedded chDB engine."""
        return self.home / "clickhouse"

    @property
    def kafka_dir(self) -> Path:
        """Folder of the local broker: jars, data, log, pid file."""
        return self.home / "kafka"

    @property
    def latency_model_dir(self) -> Path:
        """Folder of the versioned latency-model artifacts (``LATEST`` names the current one)."""
        return self.home / "models" / "latency"

    @property
    def identity_path(self) -> Path:
        """SQLite file of the identity store when ``identity_url`` is unset."""
        return self.home / "identity.sqlite3"
