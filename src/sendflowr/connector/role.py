"""The connector role: its FastAPI app on ``settings.connector_port``."""

from __future__ import annotations

from sendflowr.connector.app import create_app
from sendflowr.roles import Resources, RoleHandle

__all__ = ["build"]


def build(resources: Resources) -> RoleHandle:
    """The connector's app; identity store and producer open in the app's lifespan."""
    settings = resources.settings
    return RoleHandle(name="connector", app=create_app(settings), port=settings.connector_port)
