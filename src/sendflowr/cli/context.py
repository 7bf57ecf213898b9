"""Shared CLI plumbing: settings built once per invocation, console output."""

from __future__ import annotations

from pydantic import ValidationError as PydanticValidationError
from rich.console import Console

from sendflowr.errors import ConfigError
from sendflowr.settings import Settings

__all__ = ["console", "err_console", "load_settings"]

console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    """Build Settings from the environment; a bad value is a one-line ConfigError."""
    try:
        return Settings()
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        raise ConfigError(first["msg"], option=f"SENDFLOWR_{field.upper()}") from exc
