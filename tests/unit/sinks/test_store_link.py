"""The store link: gateway processes read ClickHouse through the process that owns it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client
from typing import Any

import pytest

from eventline.core.errors import TransientError
from eventline.sinks.store_link import LinkedStore, StoreLinkError, StoreServer


class OwnedStore:
    """What the owner's Store answers: the SQL it ran, or the error it was told to raise."""

    def __init__(self) -> None:
        self.fail: Exception | None = None

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        if self.fail is not None:
            raise self.fail
        return [{"sql": sql, "parameters": parameters}]

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return "done"

    def answers(self) -> bool:
        return True


@pytest.fixture
def owned() -> OwnedStore:
    return OwnedStore()


@pytest.fixture
def server(owned: OwnedStore) -> Iterator[StoreServer]:
    running = StoreServer(owned)  # type: ignore[arg-type]
    running.start()
    yield running
    running.stop()


def _port(server: StoreServer) -> int:
    return int(server.address.rpartition(":")[2])


def test_reads_run_in_the_owner_with_the_linked_database(server: StoreServer) -> None:
    store = LinkedStore(server.address, server.key, "db1")
    assert store.query("SELECT * FROM {db}.t", {"a": 1}) == [
        {"sql": "SELECT * FROM db1.t", "parameters": {"a": 1}}
    ]
    assert store.command("OPTIMIZE TABLE {db}.t") == "done" and store.answers()


def test_many_threads_read_at_once(server: StoreServer) -> None:
    store = LinkedStore(server.address, server.key, "db1")
    found: list[Any] = []
    threads = [threading.Thread(target=lambda: found.append(store.query("x"))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 16


def test_a_client_without_the_key_is_refused_and_others_still_served(server: StoreServer) -> None:
    with pytest.raises(AuthenticationError):
        Client(("127.0.0.1", _port(server)), authkey=b"guessed")
    socket.create_connection(("127.0.0.1", _port(server))).close()  # gone mid-handshake
    assert LinkedStore(server.address, server.key, "db1").query("x")


def test_errors_come_back_as_ours(server: StoreServer, owned: OwnedStore) -> None:
    store = LinkedStore(server.address, server.key, "db1")
    owned.fail = TransientError("ClickHouse busy")
    with pytest.raises(TransientError, match="busy"):
        store.query("x")
    owned.fail = ValueError("Code: 62. Syntax error")
    with pytest.raises(StoreLinkError, match="Syntax error"):
        store.query("x")


def test_an_owner_that_is_gone_is_a_transient_error(server: StoreServer) -> None:
    store = LinkedStore(server.address, server.key, "db1")
    server.stop()
    with pytest.raises(TransientError):
        store.query("x")
    assert not store.answers()
