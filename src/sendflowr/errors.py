"""The one error tree of SendFlowr.

Errors carry data; they become HTTP responses or CLI messages only at the edges.

    SendFlowrError
    ├── ConfigError                bad settings or options (``option`` names the flag)
    ├── ValidationError            an input failed validation (``field``, ``reason``)
    │   ├── IdentityError          no usable identity key
    │   ├── NotFound               the thing asked for does not exist (HTTP 404)
    │   ├── BadBody                a request body that is not JSON / NDJSON (HTTP 400)
    │   ├── TooLarge               more events or bytes than one request may carry (413)
    │   ├── UnsupportedMediaType   a body that is not declared JSON / NDJSON (HTTP 415)
    │   └── Unauthorized           missing or wrong API key or signature (HTTP 401)
    │       └── SignatureInvalid   a webhook signature missing, wrong, stale or uncheckable
    ├── DependencyMissing          a tool the project needs is not installed (``hint``)
    ├── ServiceError               a service misbehaved
    │   ├── KafkaUnavailable       broker unreachable or timed out (``retry_after``)
    │   ├── ConnectorUnavailable   nothing answers at the connector URL (``url``)
    │   └── StoreError             ClickHouse refused or failed (``code``, ``name``)
    │       └── StoreLocked        the chDB data folder is owned by another process
    ├── SuppressedError            a send window lies inside a circuit-breaker suppression
    └── Abandoned                  the sink's writer stopped waiting: the sink is stopping
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "Abandoned",
    "BadBody",
    "ConfigError",
    "ConnectorUnavailable",
    "DependencyMissing",
    "IdentityError",
    "KafkaUnavailable",
    "NotFound",
    "SendFlowrError",
    "ServiceError",
    "SignatureInvalid",
    "StoreError",
    "StoreLocked",
    "SuppressedError",
    "TooLarge",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationError",
]


class SendFlowrError(Exception):
    """Base of every error SendFlowr raises on purpose."""


class ConfigError(SendFlowrError):
    """A setting or option is invalid; ``option`` names it (e.g. ``--count``)."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(f"{option}: {message}" if option else message)
        self.option = option
        self.reason = message


class ValidationError(SendFlowrError):
    """An input failed validation: ``field`` says where, ``reason`` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class IdentityError(ValidationError):
    """An identity request had no usable key."""


class NotFound(ValidationError):
    """What a request names (a recipient, a decision) does not exist; ``field`` names it."""


class BadBody(ValidationError):
    """The body is not JSON / NDJSON at all."""


class TooLarge(ValidationError):
    """The body holds more events (or bytes) than one request may carry."""


class UnsupportedMediaType(ValidationError):
    """The body is declared as something other than JSON / NDJSON."""


class Unauthorized(ValidationError):
    """Missing or wrong credentials; ``field`` names the header or the signature."""


class SignatureInvalid(Unauthorized):
    """The request's signature is missing, wrong, stale or cannot be checked."""

    def __init__(self, reason: str) -> None:
        super().__init__("signature", reason)


class DependencyMissing(SendFlowrError):
    """A required tool is missing; ``hint`` says what to install."""

    def __init__(self, hint: str) -> None:
        super().__init__(hint)
        self.hint = hint


class ServiceError(SendFlowrError):
    """A service the project talks to failed."""


class KafkaUnavailable(ServiceError):
    """The broker is unreachable or did not confirm in time."""

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ConnectorUnavailable(ServiceError):
    """Nothing answers at the connector URL (the seed's troubleshooting hint)."""

    def __init__(self, url: str, detail: str = "") -> None:
        super().__init__(
            f"Connector API not available at {url}{f' ({detail})' if detail else ''}\n"
            "  Start it with: sendflowr serve   (or: sendflowr serve --role connector)\n"
            "  Or use --dry-run to test without publishing."
        )
        self.url = url


class StoreError(ServiceError):
    """ClickHouse failed; ``code`` and ``name`` are ClickHouse's when known."""

    def __init__(self, message: str, *, code: int | None = None, name: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.name = name


class StoreLocked(StoreError):
    """The embedded chDB folder is owned by another process."""


class SuppressedError(SendFlowrError):
    """Every minute of a requested window lies inside a suppression."""

    def __init__(self, reason: str, until: datetime | None) -> None:
        super().__init__(
            f"suppressed by {reason} until {until.isoformat() if until else 'forever'}"
        )
        self.reason = reason
        self.until = until


class Abandoned(SendFlowrError):
    """The writer stopped waiting for the store because the sink is stopping."""
