"""The gateway reads ClickHouse only through ``eventline.schemas.reads.Reads``: any object with
its methods serves the read endpoints (here a spy, with no SQL), and a gateway given none
answers 503 naming what to set."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eventline.core.settings import Settings
from eventline.producers.gateway import app as gateway_app
from eventline.schemas.reads import Reads, Rows
from tests.unit.producers.gateway.conftest import use_fakes

ACCOUNT = {"X-Eventline-Account": "acme"}


class SpyReads:
    """Answers from fixed rows, and remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.stored = True

    def answers(self) -> bool:
        return True

    def incoming(self, account: str, event_id: str) -> Rows:
        self.calls.append(("incoming", account, event_id))
        return [{"event_id": event_id, "receipt_id": "r-1", "kind": "event",
                 "status": "processed", "process_error": None}]  # fmt: skip

    def event_stored(self, account: str, event_id: str) -> bool:
        self.calls.append(("event_stored", account, event_id))
        return self.stored

    def contact_stored(self, account: str, contact_id: str) -> bool:
        return True

    def incoming_list(
        self, account: str, status: str | None, count: int, offset: int,
        since: datetime | None = None,
    ) -> tuple[Rows, int]:  # fmt: skip
        self.calls.append(("incoming_list", account, status, count, offset, since))
        return [], 0

    def timeline(self, account: str, contact_id: str, count: int, offset: int) -> tuple[Rows, int]:
        self.calls.append(("timeline", account, contact_id, count, offset))
        return [{"event_id": "e-1", "name": "purchase"}], 1

    def account_events(
        self, account: str, filters: dict[str, str | None], count: int, offset: int
    ) -> tuple[Rows, int]:
        return [], 0

    def find_contacts(self, account: str, **identifiers: str | None) -> Rows:
        return []

    def contact_by_member_number(self, account: str, number: int) -> dict[str, Any] | None:
        return None

    def segment_members(
        self, account: str, segment_id: str, count: int, offset: int
    ) -> tuple[Rows, int]:
        return [], 0

    def segment_sizes(self, account: str) -> dict[str, int]:
        return {}

    def delete_events_of_type(
        self, account: str, event_type: str, received_until: datetime | None = None
    ) -> None:
        return None


def _client(monkeypatch: pytest.MonkeyPatch, reads: Reads | None) -> Iterator[TestClient]:
    use_fakes(monkeypatch)
    with TestClient(gateway_app.create_app(Settings(), reads=reads)) as client:
        yield client


@pytest.fixture
def spy() -> SpyReads:
    return SpyReads()


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch, spy: SpyReads) -> Iterator[TestClient]:
    yield from _client(monkeypatch, spy)


def test_an_event_is_processed_once_its_row_can_be_read(client: TestClient, spy: SpyReads) -> None:
    assert client.get("/v1/events/e-1", headers=ACCOUNT).json()["status"] == "processed"
    spy.stored = False  # the status reached ClickHouse before the row: still in flight
    assert client.get("/v1/events/e-1", headers=ACCOUNT).json()["status"] == "received"
    assert ("event_stored", "acme", "e-1") in spy.calls


def test_lists_and_timelines_pass_their_parameters_through(
    client: TestClient, spy: SpyReads
) -> None:
    assert client.get("/v1/incoming?status=failed&count=5", headers=ACCOUNT).status_code == 200
    answer = client.get("/v1/contacts/c-1/events?count=7&offset=2", headers=ACCOUNT)
    assert answer.status_code == 200 and answer.json()["events"][0]["event_id"] == "e-1"
    assert ("incoming_list", "acme", "failed", 5, 0, None) in spy.calls
    assert ("timeline", "acme", "c-1", 7, 2) in spy.calls


def test_without_reads_the_read_endpoints_say_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for client in _client(monkeypatch, None):
        answer = client.get("/v1/events/e-1", headers=ACCOUNT)
        assert answer.status_code == 503
        assert "EVENTLINE_CLICKHOUSE_URL" in answer.text
