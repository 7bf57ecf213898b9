"""The composition root: every role ``serve`` can run, imported by name.

Each role's package provides ``build(resources) -> RoleHandle`` (``serve.contract``);
this module imports them, so the imports show what ``serve`` composes.
"""

from __future__ import annotations

from typing import Final

from sendflowr.connector import role as connector_role
from sendflowr.errors import ConfigError
from sendflowr.serve.contract import Resources, RoleBuilder, RoleHandle
from sendflowr.sink import role as consumer_role
from sendflowr.timing import role as inference_role

__all__ = ["ROLE_BUILDERS", "build_role"]

#: role name → its builder.
ROLE_BUILDERS: Final[dict[str, RoleBuilder]] = {
    "connector": connector_role.build,
    "consumer": consumer_role.build,
    "inference": inference_role.build,
}


def build_role(name: str, resources: Resources) -> RoleHandle:
    """Build role ``name``; a ConfigError names ``--role`` when it does not exist."""
    builder = ROLE_BUILDERS.get(name)
    if builder is None:
        raise ConfigError(
            f"unknown role {name!r} (one of {', '.join(ROLE_BUILDERS)})", option="--role"
        )
    return builder(resources)
