"""The gateway app with its Kafka writer replaced by an in-memory fake."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient

from eventline.core.settings import Settings
from eventline.producers.gateway import app as gateway_app
from eventline.producers.members import MemberIndex, member_key
from eventline.schemas.accounts.service import Accounts
from eventline.schemas.codec import codec
from eventline.schemas.rules.catalog import RuleCatalog
from eventline.sinks.reads import StoreReads


class FakeWriter:
    """Stands in for eventline.core.kafka.KafkaWriter: every write is acknowledged at once."""

    instances: ClassVar[list[FakeWriter]] = []

    def __init__(self, bootstrap: str, **_extra: Any) -> None:
        self.bootstrap = bootstrap
        self.records: list[tuple[str, str, bytes]] = []
        self.tombstones: list[tuple[str, str]] = []
        self.ends: dict[tuple[str, int], int] = {}  # next offset of each (topic, partition)
        self.closed = False
        FakeWriter.instances.append(self)

    async def produce_many(
        self, records: Sequence[tuple[str, str, bytes]], timeout_s: float
    ) -> None:
        assert timeout_s > 0
        self.records.extend(records)

    async def produce(self, topic: str, key: str, value: bytes, timeout_s: float) -> None:
        await self.produce_many([(topic, key, value)], timeout_s)

    async def produce_to(
        self,
        topic: str,
        key: str,
        value: bytes | None,
        timeout_s: float,
        partition: int | None = None,
    ) -> tuple[int, int]:
        assert timeout_s > 0
        where = (topic, partition or 0)
        offset = self.ends.get(where, 0)
        self.ends[where] = offset + 1
        if value is None:
            self.tombstones.append((topic, key))
        else:
            self.records.append((topic, key, value))
        return where[1], offset

    def flush(self, timeout_s: float = 10.0) -> int:
        return 0

    def close(self) -> None:
        self.closed = True

    def on(self, topic: str, schema: str) -> list[tuple[str, dict[str, Any]]]:
        """(key, decoded record) of every write to ``topic``."""
        return [
            (key, codec().decode(schema, value)) for t, key, value in self.records if t == topic
        ]

    def incoming(self) -> list[tuple[str, dict[str, Any]]]:
        return self.on("eventline.incoming", "IncomingRecord")

    def statuses(self) -> list[tuple[str, dict[str, Any]]]:
        return self.on("eventline.event-status", "EventStatus")


class LocalAccounts(Accounts):
    """Accounts without the Kafka follower: a write is read back at once."""

    def start(self, timeout_s: float = 30.0) -> None:
        pass

    def stop(self) -> None:
        pass

    async def sync(self) -> None:
        pass

    async def _read_back(self, partition: int, offset: int, key: str, value: bytes) -> None:
        self._apply(partition, offset, key, value)


class LocalRules(RuleCatalog):
    """Rules without the Kafka follower: a write is read back at once."""

    def start(self, timeout_s: float = 30.0) -> None:
        pass

    def stop(self) -> None:
        pass

    async def sync(self) -> None:
        pass

    async def _read_back(self, partition: int, offset: int, key: str, value: bytes) -> None:
        self._apply(partition, offset, key, value)


class LocalMembers(MemberIndex):
    """The member index without Kafka: it knows the hashes written to the fake writer."""

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    async def knows(self, account: str, subscriber_hash: str) -> bool | None:
        written = {k for t, k, _ in FakeWriter.instances[-1].records if t == self.topic}
        return member_key(account, subscriber_hash) in written


@pytest.fixture
def settings() -> Settings:
    return Settings(bulk_max_events=3)


def use_fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gateway app's Kafka writer, accounts and rules without Kafka."""
    monkeypatch.setattr(gateway_app, "KafkaWriter", FakeWriter)
    monkeypatch.setattr(gateway_app, "Accounts", LocalAccounts)
    monkeypatch.setattr(gateway_app, "RuleCatalog", LocalRules)
    monkeypatch.setattr(gateway_app, "MemberIndex", LocalMembers)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[TestClient]:
    use_fakes(monkeypatch)
    FakeWriter.instances.clear()
    with TestClient(gateway_app.create_app(settings, reads=None)) as test_client:
        yield test_client
    assert FakeWriter.instances[-1].closed


@pytest.fixture
def writer(client: TestClient) -> FakeWriter:
    return FakeWriter.instances[-1]


class FakeStore:
    """Stands in for eventline.sinks.store.Store: each query answers the rows of the table it names
    (as ClickHouse returns them: naive UTC datetimes, JSON columns as text), filtered by
    nothing; ``count()`` queries answer how many rows the table holds."""

    TABLES = ("incoming_events", "segment_members", "contacts", "events")

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {t: [] for t in self.TABLES}
        self.commands: list[str] = []

    def answers(self) -> bool:
        return True

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        table = next(t for t in self.TABLES if f".{t}" in sql)
        rows = self.tables[table]
        if "count()" in sql and "GROUP BY" not in sql:
            return [{"n": len(rows)}]
        if "GROUP BY" in sql:
            return []
        return [dict(r) for r in rows]

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> None:
        self.commands.append(sql)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def store_client(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, store: FakeStore
) -> Iterator[TestClient]:
    """The gateway with a fake ClickHouse behind its read endpoints."""
    use_fakes(monkeypatch)
    app = gateway_app.create_app(settings, reads=StoreReads(store))  # type: ignore[arg-type]
    with TestClient(app) as test_client:
        yield test_client
