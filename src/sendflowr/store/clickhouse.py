"""The ClickHouse store: one client API over embedded chDB and a server.

``CLICKHOUSE_URL`` unset → embedded chDB in ``SENDFLOWR_HOME/clickhouse``
(one process owns that folder, and one chDB engine lives per process);
set → a ClickHouse server through clickhouse-connect's HTTP client.
Queries take bound parameters (``{name:Type}``); inserts are columnar.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import clickhouse_connect
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError

from sendflowr.errors import ConfigError, StoreError, StoreLocked
from sendflowr.settings import Settings
from sendflowr.store.formatted import readonly_query
from sendflowr.store.schema import (
    EVENTS_TABLE,
    TABLES,
    VIEWS,
    backfill,
    migrations,
    quote_identifier,
)

__all__ = ["ClickHouseStore", "QueryResult"]

_engine_lock = threading.Lock()
_engine_path: Path | None = None


class QueryResult:
    """Rows of a query with their column names."""

    def __init__(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.columns = list(columns)
        self.rows = [tuple(r) for r in rows]

    def scalar(self) -> Any:
        """The first column of the first row."""
        return self.rows[0][0]


def _as_store_error(exc: Exception) -> StoreError:
    code = getattr(exc, "code", None)
    name = getattr(exc, "name", None)
    text = str(exc)
    if "Cannot lock file" in text or "Error initializing EmbeddedServer" in text:
        return StoreLocked(
            "the embedded ClickHouse folder is in use by another process "
            "(stop `sendflowr serve` or set CLICKHOUSE_URL)",
            code=code,
            name=name,
        )
    return StoreError(text.strip().splitlines()[0] if text else repr(exc), code=code, name=name)


def _setting_literal(value: Any) -> str:
    """A SETTINGS clause value: a number, or a quoted string."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


class ClickHouseStore:
    """Event store over clickhouse-connect. Call ``start()`` before use, ``stop()`` after."""

    def __init__(
        self,
        settings: Settings,
        *,
        database: str | None = None,
        session: Mapping[str, Any] | None = None,
    ) -> None:
        """``session``: ClickHouse settings fixed for this store's own session (its own chDB
        connection handle, or every request to a server), e.g. ``readonly=1`` and limits.
        A store with ``readonly`` in ``session`` runs no migrations."""
        self._settings = settings
        self.database = database or settings.clickhouse_database
        quote_identifier(self.database)
        # readonly last: once it is set, the session refuses every later setting.
        fixed = dict(session or {})
        readonly = fixed.pop("readonly", None)
        if readonly is not None:
            fixed["readonly"] = readonly
        self._session = fixed
        self._client: Client | None = None
        self._lock = threading.Lock()
        #: Whether ``migrate`` found no events table and created it: whatever a consumer
        #: group committed before was stored elsewhere (or lost with a deleted folder).
        self.created_events_table = False

    @property
    def embedded(self) -> bool:
        """True when the store is the in-process chDB engine."""
        return not self._settings.clickhouse_url

    @property
    def engine_key(self) -> str:
        """Which engine this is: the embedded folder, or the server's URL."""
        url = self._settings.clickhouse_url
        return url if url else str(self._settings.clickhouse_path.resolve())

    @property
    def events_table(self) -> str:
        """Qualified name of the events table."""
        return f"{quote_identifier(self.database)}.{EVENTS_TABLE}"

    def start(self) -> None:
        """Open the connection (and the embedded engine) and run migrations."""
        if self._client is not None:
            return
        try:
            self._client = self._connect()
        except ClickHouseError as exc:
            raise _as_store_error(exc) from exc
        if "readonly" not in self._session:
            self.migrate()

    @property
    def _session_database(self) -> str | None:
        # A read-only session cannot migrate, so its database exists: names resolve in it.
        return self.database if "readonly" in self._session else None

    def _connect(self) -> Client:
        url = self._settings.clickhouse_url
        if url:
            if not url.startswith(("http://", "https://", "clickhouse://", "chdb://")):
                raise ConfigError("must start with http:// or https://", option="CLICKHOUSE_URL")
            return clickhouse_connect.get_client(
                dsn=url, tz_mode="aware", settings=self._session, database=self._session_database
            )
        global _engine_path
        path = self._settings.clickhouse_path.resolve()
        with _engine_lock:
            if _engine_path is not None and _engine_path != path:
                raise StoreError(
                    f"this process already runs chDB on {_engine_path}; one engine per process"
                )
            path.mkdir(parents=True, exist_ok=True)
            # Each client owns its chDB connection handle: settings (SET) are per session.
            client = clickhouse_connect.get_client(
                dsn=f"chdb://{path}",
                tz_mode="aware",
                settings=self._session,
                database=self._session_database,
            )
            _engine_path = path
            return client

    def stop(self) -> None:
        """Close the client. The embedded engine stays up for this process."""
        if self._client is not None and not self.embedded:
            self._client.close()
        self._client = None

    @property
    def client(self) -> Client:
        """The clickhouse-connect client; raises if ``start()`` was not called."""
        if self._client is None:
            raise StoreError("store not started")
        return self._client

    def migrate(self) -> None:
        """Create the database, tables and views if missing (idempotent).

        A view that does not exist yet is created after its target table is filled from
        the rows its source already holds (emptied first: a migration cut off between
        the fill and the view starts again), so an existing store gains its aggregates
        once. Run it before any writer inserts (``start()`` does, in the writer itself).
        When the events table itself is new, every view is rebuilt (its table emptied):
        aggregates left from a lost events table describe events that no longer exist.
        """
        db = quote_identifier(self.database)
        try:
            with self._lock:
                existed = self.client.command(f"EXISTS TABLE {self.events_table}")
        except ClickHouseError as exc:
            raise _as_store_error(exc) from exc
        fresh = str(existed).strip() == "0"
        for statement in migrations(self.database, TABLES, ()):
            self.command(statement)
        for view in VIEWS:
            if fresh:  # no events yet: whatever an aggregate holds came from a lost table
                self.command(f"DROP VIEW IF EXISTS {db}.{quote_identifier(view.name)}")
            if not self._exists(view.name):
                self.command(f"TRUNCATE TABLE IF EXISTS {db}.{quote_identifier(view.target)}")
                self.command(backfill(self.database, view))
            self.command(migrations(self.database, (), (view,))[-1])
        if fresh:
            self.created_events_table = True

    def release_memory(self) -> bool:
        """Return the embedded engine's freed pages to the system (``SYSTEM JEMALLOC PURGE``:
        its jemalloc keeps them ~5 s, and a curve fit's reads free hundreds of MB at
        once). False on a server (its memory is not this process's), before ``start()``,
        or where the engine cannot purge."""
        if not self.embedded or self._client is None:
            return False
        try:
            self.command("SYSTEM JEMALLOC PURGE")
        except StoreError:
            return False
        return True

    def _exists(self, table: str) -> bool:
        sql = f"EXISTS TABLE {quote_identifier(self.database)}.{quote_identifier(table)}"
        return str(self.query(sql).scalar()).strip() == "1"

    def command(self, sql: str, parameters: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows."""
        try:
            with self._lock:
                self.client.command(sql, parameters=dict(parameters or {}))
        except ClickHouseError as exc:
            raise _as_store_error(exc) from exc

    def query(self, sql: str, parameters: Mapping[str, Any] | None = None) -> QueryResult:
        """Run a query with bound parameters and return its rows.

        Ad-hoc SQL belongs in a store of its own with a ``readonly`` session (see
        ``sendflowr.serve.admin``), never in the ingest store: the chDB backend applies per-call
        settings by SET and cannot restore them once ``readonly`` is on."""
        try:
            with self._lock:
                result = self.client.query(sql, parameters=dict(parameters or {}))
                columns = result.column_names
                if not columns and not result.result_rows:
                    columns = self._empty_columns(sql, parameters)
        except ClickHouseError as exc:
            raise _as_store_error(exc) from exc
        return QueryResult(columns, result.result_rows)

    def query_arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a query with bound parameters and return its result as one Arrow table
        (columnar: no Python object per value)."""
        try:
            with self._lock:
                table: pa.Table = self.client.query_arrow(
                    sql, parameters=dict(parameters or {}), settings=self._arrow_settings
                )
        except ClickHouseError as exc:
            raise _as_store_error(exc) from exc
        return table

    @property
    def _arrow_settings(self) -> dict[str, Any] | None:
        # In-process, an Arrow result compressed by the engine (lz4_frame by default) only
        # costs: pyarrow decompresses it into its own pool (whose allocator then kept tens
        # of MB after a curve fit) at a third of the speed; uncompressed, the table is read
        # in place from the result's bytes. A read-only session cannot take the setting.
        if self.embedded and "readonly" not in self._session:
            return {"output_format_arrow_compression_method": "none"}
        return None

    def query_text(
        self, sql: str, parameters: Mapping[str, Any] | None = None, *, readonly: bool = False
    ) -> str:
        """ClickHouse's own output of ``sql`` (which names its ``FORMAT``), as text.

        ``readonly`` goes into the query's own SETTINGS (``readonly_query``), not the
        session: chDB would keep a per-call ``readonly`` for every later query.
        """
        text = readonly_query(sql) if readonly else sql
        try:
            with self._lock:
                raw = self.client.raw_query(text, parameters=dict(parameters or {}))
        except ClickHouseError as exc:
            raise _as_store_error(exc) from exc
        return raw.decode("utf-8", "replace")

    def _empty_columns(self, sql: str, parameters: Mapping[str, Any] | None) -> tuple[str, ...]:
        """The column names of ``sql``'s empty result (the chDB backend drops them); none for
        a statement that cannot be described (e.g. ``SHOW``). Called under the lock."""
        try:
            described = self.client.query(f"DESCRIBE ({sql})", parameters=dict(parameters or {}))
        except ClickHouseError:
            return ()
        return tuple(str(row[0]) for row in described.result_rows)

    def insert_columns(
        self,
        table: str,
        columns: Mapping[str, Sequence[Any]],
        *,
        dedup_token: str | None = None,
    ) -> int:
        """Insert columnar data into ``table`` (a name in this database); return the row count.

        With ``dedup_token``, a replay of the same insert adds no rows.
        """
        names = list(columns)
        data = [columns[n] for n in names]
        settings: dict[str, Any] = {}
        if dedup_token:
            settings["insert_deduplication_token"] = dedup_token
        try:
            with self._lock:
                summary = self.client.insert(
                    f"{quote_identifier(self.database)}.{quote_identifier(table)}",
                    data,
                    column_names=names,
                    column_oriented=True,
                    settings=settings,
                )
        except ClickHouseError as exc:
            raise _as_store_error(exc) from exc
        return int(summary.written_rows) if summary is not None else len(data[0]) if data else 0

    def insert_raw(
        self,
        table: str,
        column_names: Sequence[str],
        data: bytes,
        fmt: str,
        *,
        dedup_token: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert ``data`` already encoded in ClickHouse input format ``fmt`` (e.g. ArrowStream)
        into ``table`` (a name in this database). With ``dedup_token``, a replay adds no rows;
        ``settings`` are extra ClickHouse settings of this insert (e.g. input format options)."""
        options: dict[str, Any] = dict(settings or {})
        if dedup_token:
            options["insert_deduplication_token"] = dedup_token
        try:
            with self._lock:
                self.client.raw_insert(
                    f"{quote_identifier(self.database)}.{quote_identifier(table)}",
                    list(column_names),
                    data,
                    settings=options,
                    fmt=fmt,
                )
        except ClickHouseError as exc:
            raise _as_store_error(exc) from exc

    def insert_select(
        self,
        table: str,
        select: str,
        structure: str,
        data: bytes,
        fmt: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        dedup_token: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """``INSERT INTO table <select>`` where ``select`` reads ``data`` (rows in input format
        ``fmt`` with columns ``structure``) from the placeholder ``{source}``.

        A server receives ``data`` as the body of the request (``input()``); the chDB
        engine reads it from a private temporary file (``file()``), as clickhouse-connect's
        chDB backend does for any insert. ``parameters`` bind ``{name:Type}`` in ``select``.
        """
        options: dict[str, Any] = dict(settings or {})
        if dedup_token:
            options["insert_deduplication_token"] = dedup_token
        if not fmt.isidentifier() or not all(name.isidentifier() for name in options):
            raise ValueError("formats and setting names are plain identifiers")
        # A SETTINGS clause, not client settings: the chDB backend applies those by a SET
        # statement each (and a reset), which costs more than the insert of a small chunk.
        clause = ", ".join(f"{name} = {_setting_literal(v)}" for name, v in options.items())
        target = f"{quote_identifier(self.database)}.{quote_identifier(table)}"
        bound = {**(parameters or {}), "_structure": structure}
        try:
            if not self._reads_files:
                source = "input({_structure:String})"
                sql = f"INSERT INTO {target} {select.replace('{source}', source)}"
                if clause:
                    sql += f" SETTINGS {clause}"
                with self._lock:
                    self.client.command(f"{sql} FORMAT {fmt}", parameters=bound, data=data)
                return
            with tempfile.NamedTemporaryFile(prefix="sendflowr-load-", suffix=".data") as file:
                file.write(data)
                file.flush()
                bound["_path"], bound["_format"] = file.name, fmt
                source = "file({_path:String}, {_format:String}, {_structure:String})"
                sql = f"INSERT INTO {target} {select.replace('{source}', source)}"
                if clause:
                    sql += f" SETTINGS {clause}"
                with self._lock:
                    self.client.command(sql, parameters=bound)
        except ClickHouseError as exc:
            raise _as_store_error(exc) from exc

    @property
    def _reads_files(self) -> bool:
        """Whether the engine runs in this process (chDB), so it can read our files."""
        url = self._settings.clickhouse_url
        return not url or url.startswith("chdb://")

    def count_events(self) -> int:
        """Rows in ``email_events`` (no FINAL)."""
        return int(self.query(f"SELECT count() FROM {self.events_table}").scalar())  # noqa: S608
