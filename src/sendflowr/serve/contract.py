"""The contract between ``serve`` and the roles: what a role hands over, what roles share.

A role (connector, consumer, inference) is built by a function
``build(resources) -> RoleHandle`` living in its own domain package. An HTTP
role hands over an ASGI app and a port; a worker role hands over ``start`` and
``stop``. ``sendflowr serve`` runs any set of roles in one process; in embedded
mode that is the only way several roles can share the chDB store. The roles
import this module; the composition root (``serve.compose``) imports the roles.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.identity import IdentityResolver, open_store
from sendflowr.settings import Settings
from sendflowr.store import ClickHouseStore

__all__ = ["Resources", "RoleBuilder", "RoleHandle"]


@dataclass
class RoleHandle:
    """What a role gives ``serve``: an ASGI app on a port, and/or a background worker."""

    name: str
    app: Any | None = None
    port: int | None = None
    start: Callable[[], None] | None = None
    stop: Callable[[], None] | None = None


@dataclass
class Resources:
    """Per-process shared resources, created lazily and closed once."""

    settings: Settings
    #: The one clock of the process's roles (a simulation passes a manual one).
    clock: Clock = SYSTEM_CLOCK
    _store: ClickHouseStore | None = field(default=None, init=False)
    _identity: IdentityResolver | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, init=False)

    def store(self) -> ClickHouseStore:
        """The process's started ClickHouse store (one chDB engine per process)."""
        with self._lock:
            if self._store is None:
                store = ClickHouseStore(self.settings)
                store.start()
                self._store = store
                self._closers.append(store.stop)
            return self._store

    def identity(self) -> IdentityResolver:
        """The process's one identity resolver (one store connection, one cache).

        Not started here: each role starts and stops it in its lifespan; the store
        opens with the first start and closes with the last stop.
        """
        with self._lock:
            if self._identity is None:
                self._identity = IdentityResolver(open_store(self.settings, self.clock))
            return self._identity

    def on_close(self, closer: Callable[[], None]) -> None:
        """Register a callable run by ``close()``, last registered first."""
        with self._lock:
            self._closers.append(closer)

    def close(self) -> None:
        """Close every shared resource."""
        with self._lock:
            closers, self._closers = self._closers, []
        for closer in reversed(closers):
            closer()


#: What each role's package provides: ``build(resources) -> RoleHandle``.
RoleBuilder = Callable[[Resources], RoleHandle]
