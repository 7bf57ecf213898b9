"""PostgreSQL identity store, used when ``SENDFLOWR_IDENTITY_URL`` is set.

Concurrent processes agree through the primary keys: ``INSERT … ON CONFLICT DO
NOTHING`` (rows in sorted order, so two transactions never deadlock on each other's
keys) followed by a read-back in the same READ COMMITTED transaction, which sees
the rows another process committed first. A deadlock or serialisation failure,
should one still happen, is retried.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from sendflowr.errors import ServiceError
from sendflowr.identity.model import IdentityKey, Resolution
from sendflowr.identity.store import KeySet, Link, SqlIdentityStore

__all__ = ["PostgresIdentityStore"]

_DDL = (
    "CREATE TABLE IF NOT EXISTS identities ("
    " universal_id TEXT PRIMARY KEY, created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS identity_links ("
    " key_type TEXT NOT NULL, key_value TEXT NOT NULL, universal_id TEXT NOT NULL,"
    " confidence DOUBLE PRECISION NOT NULL, created_at TEXT NOT NULL,"
    " PRIMARY KEY (key_type, key_value))",
    "CREATE INDEX IF NOT EXISTS identity_links_uid ON identity_links (universal_id)",
    "CREATE TABLE IF NOT EXISTS identity_audit ("
    " id BIGSERIAL PRIMARY KEY, universal_id TEXT NOT NULL, keys TEXT NOT NULL,"
    " steps TEXT NOT NULL, confidence DOUBLE PRECISION NOT NULL, created_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS identity_audit_uid ON identity_audit (universal_id)",
    "CREATE TABLE IF NOT EXISTS identity_zones ("
    " universal_id TEXT PRIMARY KEY, timezone TEXT NOT NULL, observed_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
)
_RETRIES = 5
# Serialises DDL of processes starting together (CREATE … IF NOT EXISTS can race).
_DDL_LOCK_ID = 0x5E4DF10


class PostgresIdentityStore(SqlIdentityStore):
    """Identity state in PostgreSQL. No I/O in the constructor."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        try:
            conn = psycopg.connect(self.url, autocommit=False, connect_timeout=10)
        except psycopg.OperationalError as exc:
            raise ServiceError(f"cannot connect to the identity database: {exc}") from exc
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK_ID,))
            for statement in _DDL:
                conn.execute(statement)
        self._conn = conn

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def resolve_many(self, key_sets: Sequence[KeySet]) -> list[Resolution]:
        for attempt in range(_RETRIES):
            try:
                return super().resolve_many(key_sets)
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def _begin(self, write: bool) -> Iterator[psycopg.Cursor[Any]]:
        if self._conn is None:
            raise RuntimeError("identity store not started")
        with self._lock:
            if self._conn.broken or self._conn.closed:
                # The server restarted or the connection dropped: reconnect once.
                try:
                    self._conn = psycopg.connect(self.url, autocommit=False, connect_timeout=10)
                except psycopg.OperationalError as exc:
                    raise ServiceError(f"identity database unreachable: {exc}") from exc
            try:
                with self._conn.transaction(), self._conn.cursor() as cur:
                    yield cur
            except psycopg.OperationalError as exc:
                raise ServiceError(f"identity database failed: {exc}") from exc

    def _select_links(self, cur: Any, keys: Sequence[IdentityKey]) -> dict[IdentityKey, Link]:
        if not keys:
            return {}
        cur.execute(
            "SELECT key_type, key_value, universal_id, confidence FROM identity_links"
            " WHERE (key_type, key_value) IN"
            " (SELECT * FROM unnest(%s::text[], %s::text[]))",
            ([k.key_type for k in keys], [k.value for k in keys]),
        )
        return {
            IdentityKey(key_type, value): Link(uid, float(confidence))
            for key_type, value, uid, confidence in cur.fetchall()
        }

    def _insert_identities(self, cur: Any, ids: Sequence[str], now: str) -> set[str]:
        cur.execute(
            "INSERT INTO identities (universal_id, created_at)"
            " SELECT u, %s FROM unnest(%s::text[]) AS x(u) ON CONFLICT DO NOTHING"
            " RETURNING universal_id",
            (now, list(ids)),
        )
        return {str(row[0]) for row in cur.fetchall()}

    def _insert_links(
        self, cur: Any, rows: Sequence[tuple[str, str, str, float]], now: str
    ) -> None:
        cur.execute(
            "INSERT INTO identity_links"
            " (key_type, key_value, universal_id, confidence, created_at)"
            " SELECT t, v, u, c, %s"
            " FROM unnest(%s::text[], %s::text[], %s::text[], %s::float8[]) AS x(t, v, u, c)"
            " ON CONFLICT DO NOTHING",
            (now, *(list(col) for col in zip(*rows, strict=True))),
        )

    def _insert_audit(
        self, cur: Any, rows: Sequence[tuple[str, str, str, float]], now: str
    ) -> None:
        if not rows:
            return
        cur.execute(
            "INSERT INTO identity_audit (universal_id, keys, steps, confidence, created_at)"
            " SELECT u, k, s, c, %s"
            " FROM unnest(%s::text[], %s::text[], %s::text[], %s::float8[]) AS x(u, k, s, c)",
            (now, *(list(col) for col in zip(*rows, strict=True))),
        )

    def _select_identity(self, cur: Any, universal_id: str) -> bool:
        cur.execute("SELECT 1 FROM identities WHERE universal_id = %s", (universal_id,))
        return cur.fetchone() is not None

    def _select_audit(self, cur: Any, universal_id: str) -> list[tuple[Any, ...]]:
        cur.execute(
            "SELECT universal_id, keys, steps, confidence, created_at FROM identity_audit"
            " WHERE universal_id = %s ORDER BY id",
            (universal_id,),
        )
        return list(cur.fetchall())

    def _upsert_zones(self, cur: Any, rows: Sequence[tuple[str, str, str]], now: str) -> None:
        cur.executemany(
            "INSERT INTO identity_zones (universal_id, timezone, observed_at, updated_at)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (universal_id) DO UPDATE"
            " SET timezone = excluded.timezone, observed_at = excluded.observed_at,"
            " updated_at = excluded.updated_at"
            " WHERE excluded.observed_at >= identity_zones.observed_at",
            [(*row, now) for row in rows],
        )

    def _select_zone(self, cur: Any, universal_id: str) -> str | None:
        cur.execute("SELECT timezone FROM identity_zones WHERE universal_id = %s", (universal_id,))
        row = cur.fetchone()
        return str(row[0]) if row is not None else None
