"""Options several commands share, declared once (``generate``, ``simulate``, ``experiment``,
``report``): the same flag means the same thing, with the same help, everywhere."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Final

import click

from sendflowr.errors import ConfigError

__all__ = ["connector_url_option", "parse_day", "users_option", "world_option"]

#: ``--world FILE`` → ``world_path`` (a path, or None for the shipped world file).
world_option: Final = click.option(
    "--world",
    "world_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="World file (personas, campaigns, providers, constants) replacing the shipped one.",
)
#: ``--connector-url URL`` → ``connector_url`` (env SENDFLOWR_CONNECTOR_URL).
connector_url_option: Final = click.option(
    "--connector-url",
    envvar="SENDFLOWR_CONNECTOR_URL",
    show_envvar=True,
    help="Connector base URL (default http://SENDFLOWR_HOST:SENDFLOWR_CONNECTOR_PORT).",
)
#: ``--users N`` → ``users`` (None: the world's population).
users_option: Final = click.option(
    "--users", type=click.IntRange(min=1), help="Number of users (default: the world's, 350)."
)


def parse_day(option: str, text: str | None) -> date | None:
    """A ``YYYY-MM-DD`` option value as a date (None stays None); a ConfigError names ``option``."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"expected a date YYYY-MM-DD, got {text!r}", option=option) from None
