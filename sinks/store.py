"""The one owner of the ClickHouse connection of a process (embedded chDB or a server over HTTP).

chDB runs one engine per process, so every component of a process (sink, gateway read side,
tests) shares the Store that ``open_store`` returns, and calls are serialized by a lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from eventline.errors import ConfigurationError, TransientError
from eventline.settings import Settings

log = logging.getLogger(__name__)

_open: dict[str, Store] = {}
_open_lock = threading.Lock()


class Store:
    """A ClickHouse client plus the database name; thread-safe."""

    def __init__(self, client: Client, database: str, dedup_window: int) -> None:
        self._client = client
        self._lock = threading.RLock()
        self.database = database
        self.dedup_window = dedup_window

    def migrate(self) -> None:
        """Create the database, tables and views (idempotent)."""
        sql = (resources.files("sinks") / "tables.sql").read_text()
        for statement in _statements(sql):
            self.command(statement.format(db=self.database, dedup_window=self.dedup_window))

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        with self._lock:
            return self._client.command(sql, parameters=parameters)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts. ``{db}`` in ``sql`` is the configured database."""
        with self._lock:
            result = self._client.query(sql.replace("{db}", self.database), parameters=parameters)
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def insert(
        self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], token: str
    ) -> None:
        """Insert one block; ``token`` makes a retried insert of the same block a no-op."""
        settings = {"insert_deduplication_token": token}
        try:
            with self._lock:
                self._client.insert(
                    f"{self.database}.{table}", rows, column_names=list(columns), settings=settings
                )
        except Exception as exc:
            raise TransientError(f"insert of {len(rows)} rows into {table} failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._client.close()


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def embedded_path(settings: Settings) -> Path:
    return settings.home.resolve() / "clickhouse"


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """The process's Store for these settings, opened once (chDB allows one engine per process)."""
    key = settings.clickhouse_url or f"chdb:{embedded_path(settings)}"
    with _open_lock:
        if key in _open:
            return _open[key]
        if settings.uses_embedded_clickhouse and any(k.startswith("chdb:") for k in _open):
            raise ConfigurationError(
                f"this process already runs an embedded ClickHouse at {next(iter(_open))}; "
                "chDB allows one engine per process"
            )
        store = Store(
            _connect(settings), settings.clickhouse_database, settings.clickhouse_dedup_window
        )
        if migrate:
            store.migrate()
        _open[key] = store
        return store


def _connect(settings: Settings) -> Client:
    if settings.clickhouse_url is None:
        path = embedded_path(settings)
        path.mkdir(parents=True, exist_ok=True)
        log.info("embedded ClickHouse (chDB) at %s", path)
        return clickhouse_connect.get_client(interface="chdb", path=str(path))
    return clickhouse_connect.get_client(dsn=settings.clickhouse_url)
