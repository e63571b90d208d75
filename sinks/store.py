"""The one owner of the ClickHouse connection of a process (embedded chDB or a server over HTTP).

chDB runs one engine per process, so every component of a process (sink, gateway read side,
tests) shares the Store that ``open_store`` returns, and calls are serialized by a lock.
"""

from __future__ import annotations

import logging
import math
import re
import struct
import threading
from collections.abc import Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from eventline.core.errors import ConfigurationError, EventlineError, TransientError
from eventline.core.settings import Settings
from eventline.sinks.arrow import arrow_table

log = logging.getLogger(__name__)

_open: dict[str, Store] = {}
_open_lock = threading.Lock()

# ClickHouse's error codes that are about the rows inserted: a value it cannot parse or
# convert, out of its column's range, a NULL in a plain column, a string too large; and 252
# when it says that one block spans too many partitions (252 also means "too many parts",
# which merges cure). Any other error, known or not, is taken to heal: retrying a batch
# costs time, reporting good rows failed would lose them.
ROW_FAULT_CODES = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349})
_CODE = re.compile(r"\bcode:\s*(\d+)", re.IGNORECASE)
_ROWS_SPAN_TOO_MANY_PARTITIONS = "too many partitions for single insert block"


class RowsRefused(EventlineError):
    """ClickHouse is up and refused these rows: inserting the same rows again will not help
    (a value out of a column's range, too many partitions in one block)."""


class Store:
    """A ClickHouse client plus the database name; thread-safe."""

    def __init__(self, client: Client, database: str, dedup_window: int) -> None:
        self._client = client
        self._lock = threading.RLock()
        self.database = database
        self.dedup_window = dedup_window
        self._types: dict[tuple[str, tuple[str, ...]], list[str]] = {}

    def sibling(self, database: str) -> Store:
        """A Store of another database on the same connection and lock (chDB runs one engine
        per process): a second pipeline's tables beside the first, as tests use."""
        other = Store(self._client, database, self.dedup_window)
        other._lock = self._lock
        return other

    def migrate(self) -> list[str]:
        """Apply the migrations in sinks/migrations/ not yet applied, in order; return them.

        Each file is applied once and recorded in ``schema_migrations``, so a later version of
        eventline can change existing tables (ALTER) instead of relying on IF NOT EXISTS.
        """
        self.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        self.command(
            f"CREATE TABLE IF NOT EXISTS {self.database}.schema_migrations "
            "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
            "ENGINE = MergeTree ORDER BY version"
        )
        done = {r["version"] for r in self.query("SELECT version FROM {db}.schema_migrations")}
        applied = []
        for version, name, sql in _migrations():
            if version in done:
                continue
            for statement in _statements(sql):
                self.command(statement.format(db=self.database, dedup_window=self.dedup_window))
            self.command(
                f"INSERT INTO {self.database}.schema_migrations (version, name) VALUES "
                "({v:UInt32}, {n:String})",
                {"v": version, "n": name},
            )
            log.info("applied ClickHouse migration %s", name)
            applied.append(name)
        return applied

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        """Run a statement. ``{db}`` in ``sql`` is the configured database."""
        with self._lock:
            return self._client.command(sql.replace("{db}", self.database), parameters=parameters)

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows as dicts. ``{db}`` in ``sql`` is the configured database."""
        with self._lock:
            result = self._client.query(sql.replace("{db}", self.database), parameters=parameters)
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def insert(
        self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], token: str
    ) -> None:
        """Insert one block; ``token`` makes a retried insert of the same block a no-op.

        A value of a DateTime64 column is a datetime or already an integer count of the
        column's ticks (milliseconds for DateTime64(3)): a reader of Avro timestamps passes
        them on as they were on the wire, without two conversions."""
        if not rows:
            return
        settings = {"insert_deduplication_token": token}
        try:
            types = self._column_types(table, columns)
            data = [
                _as_ticks(list(c), t) for c, t in zip(zip(*rows, strict=True), types, strict=True)
            ]
            arrow = arrow_table(data, columns, types)
            with self._lock:
                if arrow is not None:
                    # Arrow: columns made in C from the Python values, parsed by ClickHouse
                    # itself (the client's Native writer is Python, ~1 µs a row more).
                    self._client.insert_arrow(f"{self.database}.{table}", arrow, settings=settings)
                else:
                    # Column-oriented with the types given: no transposition in Python and
                    # no DESCRIBE query per insert (the client's defaults).
                    self._client.insert(
                        f"{self.database}.{table}",
                        data,
                        column_names=list(columns),
                        column_type_names=types,
                        column_oriented=True,
                        settings=settings,
                    )
        except Exception as exc:
            message = f"insert of {len(rows)} rows into {table} failed: {exc}"
            if self._refused(exc):
                raise RowsRefused(message) from exc
            raise TransientError(message) from exc

    def _column_types(self, table: str, columns: Sequence[str]) -> list[str]:
        """ClickHouse's type of each column, asked once per table (migrations run before)."""
        key = (table, tuple(columns))
        types = self._types.get(key)
        if types is None:
            found = {
                r["name"]: r["type"]
                for r in self.query(
                    "SELECT name, type FROM system.columns WHERE database = {d:String} "
                    "AND table = {t:String}",
                    {"d": self.database, "t": table},
                )
            }
            types = self._types[key] = [found[c] for c in columns]
        return types

    def _refused(self, exc: Exception) -> bool:
        """Whether an insert failed because of its rows (else ClickHouse is away or busy)."""
        if isinstance(exc, DataError | TypeError | ValueError | OverflowError | struct.error):
            return True  # the client could not turn a value into its column's type
        if isinstance(exc, OperationalError):
            return False  # no answer: connection refused, reset, timed out
        code = getattr(exc, "code", None)
        if code is None:
            found = _CODE.search(str(exc))
            code = int(found.group(1)) if found else None
        if code == 252:
            return _ROWS_SPAN_TOO_MANY_PARTITIONS in str(exc).lower()
        return code in ROW_FAULT_CODES and self.answers()

    def answers(self) -> bool:
        """Whether ClickHouse answers a trivial query now."""
        try:
            with self._lock:
                self._client.command("SELECT 1")
        except Exception:
            return False
        return True

    @property
    def raw_client(self) -> Client:
        """The clickhouse-connect client itself, without the lock: for a benchmark's anchor
        (bench/sink_replay.py) that measures the client alone, while nothing else uses it."""
        return self._client

    def close(self) -> None:
        with self._lock:
            self._client.close()


_DATETIME64 = re.compile(r"DateTime64\((\d+)")


def _as_ticks(values: list[Any], column_type: str) -> list[Any]:
    """A DateTime64 column's datetimes as ticks of its precision (the client's own arithmetic),
    so that one column never mixes the two (the client takes the first value's kind for all)."""
    precision = _DATETIME64.search(column_type)
    # The kinds of value first (in C): a loop over the values cost ~0.1 µs a row per column.
    if precision is None or not any(issubclass(t, datetime) for t in set(map(type, values))):
        return values
    scale = 10 ** int(precision.group(1))
    return [_ticks(v, scale) if isinstance(v, datetime) else v for v in values]


def _ticks(value: datetime, scale: int) -> int:
    return ((math.floor(value.timestamp()) * 1_000_000 + value.microsecond) * scale) // 1_000_000


def _migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration file, by version."""
    folder = resources.files("eventline.sinks") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text()))
    return sorted(found)


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


def where(settings: Settings) -> str:
    """Where this process's ClickHouse is, fit to print (a URL's password never is)."""
    if settings.clickhouse_url is None:
        return f"embedded ClickHouse in {embedded_path(settings)}"
    parts = urlsplit(settings.clickhouse_url)
    return f"ClickHouse at {parts.scheme}://{parts.hostname}:{parts.port or ''}"


def _connect(settings: Settings) -> Client:
    if settings.clickhouse_url is None:
        path = embedded_path(settings)
        path.mkdir(parents=True, exist_ok=True)
        log.info("embedded ClickHouse (chDB) at %s", path)
        try:
            return clickhouse_connect.get_client(interface="chdb", path=str(path))
        except Exception as exc:
            if "lock" not in str(exc).lower():
                raise
            raise ConfigurationError(
                f"{where(settings)} is in use by another process (an `eventline up` from the "
                "same EVENTLINE_HOME?): stop it, or set EVENTLINE_CLICKHOUSE_URL to a server"
            ) from exc
    try:
        return clickhouse_connect.get_client(dsn=settings.clickhouse_url)
    except (OperationalError, DatabaseError) as exc:
        text = str(exc)
        unreachable = any(mark in text for mark in ("Max retries", "refused", "timed out"))
        what = "does not answer" if unreachable else f"refused us: {text.splitlines()[0][:160]}"
        raise ConfigurationError(
            f"{where(settings)} {what} (EVENTLINE_CLICKHOUSE_URL): start it, or fix the URL"
        ) from exc
