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
    # The store's health is known here only where the consumer shares this process.
    readiness = resources.store_problem if "consumer" in resources.roles else None
    app = create_app(
        settings, resolver=resources.identity(), readiness=readiness, clock=resources.clock
    )
    return RoleHandle(name="connector", app=app, port=settings.connector_port)
