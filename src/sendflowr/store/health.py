"""Can the store accept rows right now? Cheap checks, run before commits and periodically.

- ``FolderGuard``: the embedded data folder is the one the engine opened (same
  device and inode, its ``metadata`` and ``store`` folders present) and its disk
  has room. Only ``os.stat`` calls: the sink asks before every offset commit, so
  a folder deleted under a running serve is noticed before anything past it is
  committed (a restart then replays).
- ``StoreHealth``: a thread that every few seconds asks the guard and the
  ingest session itself (is it read-only?) and keeps the answer, so readiness
  checks (the connector's, inference's ``/health``) cost nothing.

A problem is a short text saying why (``None`` = fine).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
from pathlib import Path
from typing import Final

from sendflowr.errors import StoreError
from sendflowr.store.clickhouse import ClickHouseStore

__all__ = ["MIN_FREE_BYTES", "FolderGuard", "StoreHealth"]

_log = logging.getLogger("sendflowr.store")

_MARKER: Final = ".sendflowr-engine"
#: Folder → this process's marker token.
_tokens: dict[Path, str] = {}
_tokens_lock = threading.Lock()

#: Below this much free disk the store counts as full (ClickHouse needs room to merge).
MIN_FREE_BYTES: Final = 64 * 1024 * 1024


class FolderGuard:
    """Watches the embedded ClickHouse data folder. ``arm()`` once the engine opened it."""

    def __init__(self, path: Path, *, min_free_bytes: int = MIN_FREE_BYTES) -> None:
        self.path = path
        self._min_free = min_free_bytes
        self._identity: tuple[int, int] | None = None
        self._token: str | None = None

    def arm(self) -> None:
        """Remember which folder the engine opened: its device and inode, and a marker file
        holding this process's token (an inode number can be reused by a folder made anew).
        Every guard of one process shares the token; a process that opens the folder later
        writes its own, as only one process may own the folder."""
        st = os.stat(self.path)
        self._identity = (st.st_dev, st.st_ino)
        key = self.path.resolve()
        marker = self.path / _MARKER
        with _tokens_lock:
            token = _tokens.setdefault(key, secrets.token_hex(8))
            try:
                current = marker.read_text().strip()
            except OSError:
                current = ""
            if current != token:
                marker.write_text(token + "\n")
        self._token = token

    def problem(self) -> str | None:
        """Why the folder cannot take rows, or None."""
        try:
            st = os.stat(self.path)
        except OSError:
            return f"the ClickHouse data folder {self.path} is missing"
        replaced = f"the ClickHouse data folder {self.path} was replaced under the running engine"
        if self._identity is not None and (st.st_dev, st.st_ino) != self._identity:
            return replaced
        if self._token is not None:
            try:
                if (self.path / _MARKER).read_text().strip() != self._token:
                    return replaced
            except OSError:
                return replaced
        for part in ("metadata", "store"):
            if not (self.path / part).is_dir():
                return f"the ClickHouse data folder {self.path} lost its {part}/ folder"
        try:
            free = shutil.disk_usage(self.path).free
        except OSError as exc:
            return f"the ClickHouse data folder {self.path} cannot be read ({exc})"
        if free < self._min_free:
            return f"the disk of {self.path} is full ({free // 1024 // 1024} MB free)"
        return None


class StoreHealth:
    """The ingest store's ability to take rows, checked every ``interval`` seconds."""

    def __init__(
        self, store: ClickHouseStore, guard: FolderGuard | None, *, interval: float = 2.0
    ) -> None:
        """``store``: the ingest session; ``guard``: the embedded folder's (None for a server)."""
        self._store = store
        self._guard = guard
        self._interval = interval
        self._problem: str | None = "the store has not been checked yet"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> str | None:
        """Check now; remember and return the problem (None = rows can be stored)."""
        problem = self._guard.problem() if self._guard is not None else None
        if problem is None:
            try:
                readonly = self._store.query("SELECT getSetting('readonly')").scalar()
                if str(readonly) not in ("0", ""):
                    problem = f"the ingest session is read-only (readonly={readonly})"
            except StoreError as exc:
                problem = f"the store does not answer: {exc}"
        if problem != self._problem:
            if problem is None:
                _log.info("store writable again")
            else:
                _log.error("store cannot accept rows: %s", problem)
        self._problem = problem
        return problem

    def problem(self) -> str | None:
        """The last check's answer (no I/O)."""
        return self._problem

    def start(self) -> None:
        """Check once, then every ``interval`` seconds in a daemon thread."""
        if self._thread is not None:
            return
        self.check()
        self._thread = threading.Thread(
            target=self._loop, name="sendflowr-store-health", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.check()
            except Exception as exc:  # the watcher must outlive any one failure
                self._problem = f"the store check failed: {exc}"

    def stop(self) -> None:
        """End the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
