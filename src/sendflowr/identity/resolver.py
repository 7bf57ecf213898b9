"""Identity resolution with a per-process cache over a transactional store.

A key set that resolved once always resolves the same way (links are never
removed or overwritten, and the answer is the identity of the strongest key), so
the resolver keeps resolved key sets in memory and sends only the unseen ones to
the store — all of a request's unseen sets in one transaction. Every resolution
the store performs is audited there; a cache hit repeats an audited answer.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from sendflowr.clock import SYSTEM_CLOCK, Clock
from sendflowr.identity.model import IdentityKey, Resolution, key_of, strongest
from sendflowr.identity.store import AuditRecord, IdentityStore, KeySet, Link, SqlIdentityStore
from sendflowr.settings import Settings

__all__ = ["IdentityResolver", "key_set", "keys_from", "open_store"]


def open_store(settings: Settings, clock: Clock = SYSTEM_CLOCK) -> IdentityStore:
    """PostgreSQL when ``identity_url`` is set, else the SQLite file under ``SENDFLOWR_HOME``;
    link and audit times come from ``clock``.

    Not started: call ``start()``.
    """
    store: SqlIdentityStore
    if settings.identity_url:
        from sendflowr.identity.postgres import PostgresIdentityStore

        store = PostgresIdentityStore(settings.identity_url)
    else:
        from sendflowr.identity.sqlite import SqliteIdentityStore

        store = SqliteIdentityStore(settings.identity_path)
    store.clock = clock
    return store


class IdentityResolver:
    """Resolves key sets to universal ids; thread-safe. No I/O in the constructor."""

    def __init__(self, store: IdentityStore, *, cache_size: int = 1_000_000) -> None:
        self.store = store
        self._cache: dict[KeySet, Resolution] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.cache_hits = 0
        self.store_resolutions = 0
        self._users = 0
        self._life = threading.Lock()

    def start(self) -> None:
        """Open the store; several users (roles of one process) may share one resolver."""
        with self._life:
            if self._users == 0:
                self.store.start()
            self._users += 1

    def stop(self) -> None:
        """Close the store when its last user stops."""
        with self._life:
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0:
                self.store.stop()

    def resolve_many(self, key_sets: Sequence[KeySet]) -> list[Resolution]:
        """One resolution per key set, in order; at most one store transaction.

        Key sets are normalised (sorted, deduplicated) by the caller through
        ``key_set``. Raises ``IdentityError`` for an empty set.
        """
        for ks in key_sets:
            strongest(ks)
        cache = self._cache
        known = {ks: r for ks in key_sets if (r := cache.get(ks)) is not None}
        misses = list(dict.fromkeys(ks for ks in key_sets if ks not in known))
        fresh: dict[KeySet, Resolution] = {}
        if misses:
            resolved = self.store.resolve_many(misses)
            fresh = dict(zip(misses, resolved, strict=True))
            # What is remembered is an identity that exists: never "created" again.
            remembered = {ks: _existing(r) for ks, r in fresh.items()}
            known.update(remembered)
            with self._lock:
                if len(cache) + len(misses) > self._cache_size:
                    cache.clear()
                cache.update(remembered)
                self.store_resolutions += len(misses)
        # Only the first mention of a key set the store just created says "created".
        results = [fresh.pop(ks) if ks in fresh else known[ks] for ks in key_sets]
        self.cache_hits += len(key_sets) - len(misses)
        return results

    def cached(self, key_sets: Sequence[KeySet]) -> list[Resolution] | None:
        """The resolutions of ``key_sets`` if every one is cached (no I/O), else None."""
        cache = self._cache
        try:
            results = [cache[ks] for ks in key_sets]
        except KeyError:
            return None
        self.cache_hits += len(key_sets)
        return results

    def resolve(self, keys: Sequence[IdentityKey]) -> Resolution:
        """Resolve one set of keys."""
        return self.resolve_many([key_set(keys)])[0]

    def link(self, universal_id: str, keys: Sequence[IdentityKey]) -> Resolution:
        """Add links from ``keys`` to an existing identity (never overwriting one)."""
        return self.store.link(universal_id, key_set(keys))

    def lookup(self, keys: Sequence[IdentityKey]) -> dict[IdentityKey, Link]:
        """Existing links of ``keys``, without creating anything."""
        return self.store.lookup(keys)

    def audit(self, universal_id: str) -> list[AuditRecord]:
        """Audit trail of one identity."""
        return self.store.audit(universal_id)

    def record_zones(self, rows: Sequence[tuple[str, str, str]]) -> None:
        """Remember identities' latest zones: ``(universal_id, timezone, observed_at ISO)``."""
        self.store.record_zones(rows)

    def zone_of(self, universal_id: str) -> str | None:
        """The latest known IANA zone of an identity, None when none was ever seen."""
        return self.store.zone_of(universal_id)


def _existing(res: Resolution) -> Resolution:
    return replace(res, created=False) if res.created else res


def key_set(keys: Sequence[IdentityKey]) -> KeySet:
    """The canonical (sorted, unique) form of a key set, as the cache and store expect."""
    return tuple(sorted(set(keys)))


def keys_from(**raw: str) -> KeySet:
    """Key set from keyword ``key_type=value`` pairs; empty values are skipped."""
    return key_set([key_of(t, v) for t, v in raw.items() if v and v.strip()])
