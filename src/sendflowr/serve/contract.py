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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.identity import IdentityResolver, open_store
from sendflowr.settings import Settings
from sendflowr.store import ClickHouseStore
from sendflowr.store.health import FolderGuard, StoreHealth

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
    #: The roles this process runs (``serve`` sets it): the connector reads the store's
    #: health only where the consumer shares its process.
    roles: tuple[str, ...] = ()
    _stores: dict[str, ClickHouseStore] = field(default_factory=dict, init=False)
    _health: StoreHealth | None = field(default=None, init=False)
    #: The one clock of the process's roles (a simulation passes a manual one).
    clock: Clock = SYSTEM_CLOCK
    _identity: IdentityResolver | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, init=False)

    def store(
        self, session: str = "ingest", *, settings: Mapping[str, Any] | None = None
    ) -> ClickHouseStore:
        """The process's started store on ClickHouse session ``session``.

        One chDB engine per process, but each session name gets its own connection
        (its own SET state and lock): the sink ingests on ``ingest``, inference reads
        on ``inference``, ad-hoc SQL runs on ``admin`` — so nothing one does to its
        session (a failed read-only write, a slow query) reaches another.
        ``settings`` are fixed on the session when it is first opened.
        """
        with self._lock:
            store = self._stores.get(session)
            if store is None:
                store = ClickHouseStore(self.settings, session=settings)
                store.start()
                self._stores[session] = store
                self._closers.append(store.stop)
            return store

    def store_health(self) -> StoreHealth:
        """The ingest store's health watcher, started on first use (checks every 2 s)."""
        store = self.store()
        with self._lock:
            if self._health is None:
                guard = FolderGuard(self.settings.clickhouse_path) if store.embedded else None
                if guard is not None:
                    guard.arm()
                health = StoreHealth(store, guard)
                health.start()
                self._health = health
                self._closers.append(health.stop)
            return self._health

    def store_problem(self) -> str | None:
        """Why the store cannot accept rows (None = it can, or nobody watches it here)."""
        health = self._health
        return health.problem() if health is not None else None

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
