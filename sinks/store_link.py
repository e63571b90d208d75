"""The read side of gateway processes that do not own ClickHouse.

chDB runs one engine per process, so with embedded ClickHouse one process owns it (the sink's,
in ``eventline up``) and serves its Store on a loopback socket; every gateway process reads
through a ``LinkedStore`` that sends each call there. The link is Python's
``multiprocessing.connection``: HMAC-authenticated with a random key that only the owner's
child processes are given (in their environment), so no other local user can run SQL on it.
With a ClickHouse server (``EVENTLINE_CLICKHOUSE_URL``) there is no link: every gateway process
has a client of its own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Sequence
from multiprocessing import AuthenticationError
from multiprocessing.connection import (
    Client,
    Connection,
    Listener,
    answer_challenge,
    deliver_challenge,
)
from typing import Any

from eventline.core.errors import EventlineError, TransientError
from eventline.sinks.store import Store

log = logging.getLogger(__name__)

ADDRESS_ENV = "EVENTLINE_STORE_LINK_ADDRESS"  # host:port of the owner's link
KEY_ENV = "EVENTLINE_STORE_LINK_KEY"  # its key, hex
_CALLS = frozenset({"query", "command", "answers"})


class StoreLinkError(EventlineError):
    """The owner ran the call and ClickHouse failed it (the message is the owner's error)."""


class StoreServer:
    """Serves ``store`` to gateway processes on a loopback port: one thread per connection."""

    def __init__(self, store: Store, host: str = "127.0.0.1") -> None:
        self.store = store
        self.key = secrets.token_bytes(32)
        # No authkey here: Listener.accept() would run the handshake on the accepting thread,
        # where one client that stalls or drops mid-handshake holds up (or ends) every other.
        # A backlog of 1 (the default) drops connections that arrive together, and a client
        # whose connection was dropped that way waits for ever.
        self._listener = Listener((host, 0), backlog=256)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="store-link", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._listener.address
        return f"{host}:{port}"

    def env(self) -> dict[str, str]:
        """What a gateway process needs in its environment to read through this link."""
        return {ADDRESS_ENV: self.address, KEY_ENV: self.key.hex()}

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        # Closing a socket does not wake a thread blocked in accept() on it, and a later socket
        # may get its descriptor number: wake the thread with a connection, then close.
        with contextlib.suppress(OSError):
            socket.create_connection(_parse(self.address), timeout=2).close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn = self._listener.accept()
            except OSError:
                continue  # a connection reset before it was accepted
            if self._stopped.is_set():
                conn.close()
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            try:  # both ways, as Listener(authkey=) and Client(authkey=) do
                deliver_challenge(conn, self.key)
                answer_challenge(conn, self.key)
            except (AuthenticationError, EOFError, OSError):
                return  # not one of our gateway processes, or gone mid-handshake
            while not self._stopped.is_set():
                try:
                    call, args = conn.recv()
                except (EOFError, OSError):
                    return  # the gateway process closed its end or exited
                conn.send(self._run(call, args))

    def _run(self, call: str, args: tuple[Any, ...]) -> tuple[str, Any]:
        if call not in _CALLS:
            return ("error", f"unknown call {call!r}")
        try:
            return ("ok", getattr(self.store, call)(*args))
        except TransientError as exc:
            return ("transient", str(exc))
        except Exception as exc:  # ClickHouse's own errors may not pickle: send the text
            return ("error", f"{type(exc).__name__}: {exc}")


class LinkedStore(Store):
    """A Store whose calls run in the process that owns ClickHouse (``StoreServer``); safe to
    call from many threads (one connection per thread). Only reads and commands: the owner
    runs the sink and the migrations."""

    def __init__(self, address: str, key: bytes, database: str) -> None:
        # No client of its own: every call goes to the owner's Store.
        self.database = database
        self._address = _parse(address)
        self._key = key
        self._local = threading.local()

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self._call("query", sql, parameters)
        return rows

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self._call("command", sql, parameters)

    def answers(self) -> bool:
        try:
            return bool(self._call("answers"))
        except EventlineError:
            return False

    def insert(
        self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str], token: str
    ) -> None:
        raise StoreLinkError("inserts belong to the process that owns ClickHouse")

    def migrate(self) -> list[str]:
        raise StoreLinkError("migrations belong to the process that owns ClickHouse")

    def sibling(self, database: str) -> Store:
        return LinkedStore(f"{self._address[0]}:{self._address[1]}", self._key, database)

    def close(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _call(self, call: str, *args: Any) -> Any:
        if args and isinstance(args[0], str):  # {db}: this store's database, as Store does
            args = (args[0].replace("{db}", self.database), *args[1:])
        for attempt in (1, 2):  # a connection the owner dropped (it restarted) is made anew
            try:
                conn = self._connection()
                conn.send((call, args))
                status, value = conn.recv()
                break
            except (EOFError, OSError) as exc:
                self.close()
                if attempt == 2:
                    reason = f"ClickHouse's owner process does not answer: {exc}"
                    raise TransientError(reason) from exc
        if status == "ok":
            return value
        if status == "transient":
            raise TransientError(value)
        raise StoreLinkError(value)

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = Client(self._address, authkey=self._key)
            self._local.conn = conn
        return conn


def linked_store(database: str) -> LinkedStore | None:
    """The link the environment names (a child of the owner), else None."""
    address, key = os.environ.get(ADDRESS_ENV), os.environ.get(KEY_ENV)
    if not address or not key:
        return None
    return LinkedStore(address, bytes.fromhex(key), database)


def _parse(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)
