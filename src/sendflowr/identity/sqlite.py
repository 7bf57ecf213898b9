"""SQLite identity store: one file under ``SENDFLOWR_HOME``, shared by several processes.

WAL journal, and every resolution in a ``BEGIN IMMEDIATE`` transaction: the file's
write lock serialises concurrent processes, so two of them never create two ids
for one key. Reads (lookups, audit) do not take the lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sendflowr.errors import ServiceError
from sendflowr.identity.model import IdentityKey
from sendflowr.identity.store import Link, SqlIdentityStore

__all__ = ["SqliteIdentityStore"]

_DDL = (
    "CREATE TABLE IF NOT EXISTS identities ("
    " universal_id TEXT PRIMARY KEY, created_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS identity_links ("
    " key_type TEXT NOT NULL, key_value TEXT NOT NULL, universal_id TEXT NOT NULL,"
    " confidence REAL NOT NULL, created_at TEXT NOT NULL,"
    " PRIMARY KEY (key_type, key_value))",
    "CREATE INDEX IF NOT EXISTS identity_links_uid ON identity_links (universal_id)",
    "CREATE TABLE IF NOT EXISTS identity_audit ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, universal_id TEXT NOT NULL, keys TEXT NOT NULL,"
    " steps TEXT NOT NULL, confidence REAL NOT NULL, created_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS identity_audit_uid ON identity_audit (universal_id)",
    "CREATE TABLE IF NOT EXISTS identity_zones ("
    " universal_id TEXT PRIMARY KEY, timezone TEXT NOT NULL, observed_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
)
_CHUNK = 400  # pairs per SELECT (2 parameters each)


class SqliteIdentityStore(SqlIdentityStore):
    """Identity state in a SQLite file. No I/O in the constructor."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 60.0) -> None:
        self.path = path
        self._timeout = busy_timeout_s
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _DDL:
                conn.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._conn = conn

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def _begin(self, write: bool) -> Iterator[sqlite3.Cursor]:
        if self._conn is None:
            raise RuntimeError("identity store not started")
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as exc:  # e.g. locked beyond the busy timeout
                raise ServiceError(f"identity store busy: {exc}") from exc
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def _select_links(self, cur: Any, keys: Sequence[IdentityKey]) -> dict[IdentityKey, Link]:
        found: dict[IdentityKey, Link] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            placeholders = ",".join("(?,?)" for _ in chunk)
            params = [p for k in chunk for p in (k.key_type, k.value)]
            cur.execute(
                "SELECT key_type, key_value, universal_id, confidence FROM identity_links"  # noqa: S608 (placeholders only)
                f" WHERE (key_type, key_value) IN (VALUES {placeholders})",
                params,
            )
            for key_type, value, uid, confidence in cur.fetchall():
                found[IdentityKey(key_type, value)] = Link(uid, float(confidence))
        return found

    def _insert_identities(self, cur: Any, ids: Sequence[str], now: str) -> set[str]:
        inserted: set[str] = set()
        for uid in ids:
            cur.execute(
                "INSERT INTO identities (universal_id, created_at) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                (uid, now),
            )
            if cur.rowcount == 1:
                inserted.add(uid)
        return inserted

    def _insert_links(
        self, cur: Any, rows: Sequence[tuple[str, str, str, float]], now: str
    ) -> None:
        cur.executemany(
            "INSERT INTO identity_links"
            " (key_type, key_value, universal_id, confidence, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(*row, now) for row in rows],
        )

    def _insert_audit(
        self, cur: Any, rows: Sequence[tuple[str, str, str, float]], now: str
    ) -> None:
        cur.executemany(
            "INSERT INTO identity_audit (universal_id, keys, steps, confidence, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(*row, now) for row in rows],
        )

    def _select_identity(self, cur: Any, universal_id: str) -> bool:
        cur.execute("SELECT 1 FROM identities WHERE universal_id = ?", (universal_id,))
        return cur.fetchone() is not None

    def _select_audit(self, cur: Any, universal_id: str) -> list[tuple[Any, ...]]:
        cur.execute(
            "SELECT universal_id, keys, steps, confidence, created_at FROM identity_audit"
            " WHERE universal_id = ? ORDER BY id",
            (universal_id,),
        )
        return list(cur.fetchall())

    def _upsert_zones(self, cur: Any, rows: Sequence[tuple[str, str, str]], now: str) -> None:
        cur.executemany(
            "INSERT INTO identity_zones (universal_id, timezone, observed_at, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (universal_id) DO UPDATE"
            " SET timezone = excluded.timezone, observed_at = excluded.observed_at,"
            " updated_at = excluded.updated_at"
            " WHERE excluded.observed_at >= identity_zones.observed_at",
            [(*row, now) for row in rows],
        )

    def _select_zone(self, cur: Any, universal_id: str) -> str | None:
        cur.execute("SELECT timezone FROM identity_zones WHERE universal_id = ?", (universal_id,))
        row = cur.fetchone()
        return str(row[0]) if row is not None else None
