"""The connector role: its FastAPI app on ``settings.connector_port``."""

from __future__ import annotations

from sendflowr.connector.app import create_app
from sendflowr.serve.contract import Resources, RoleHandle

__all__ = ["build"]


def build(resources: Resources) -> RoleHandle:
    """The connector's app on the process's shared identity resolver.

    The identity store and the producer open in the app's lifespan.
    """
    settings = resources.settings
    app = create_app(settings, resolver=resources.identity(), clock=resources.clock)
    return RoleHandle(name="connector", app=app, port=settings.connector_port)
