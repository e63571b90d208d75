"""Poison records written straight to every topic the worker and the sink read: each becomes a
visible ``failed`` status with its reason, and good events sent after them, on the same
partitions and on others, are processed and stored (issue 10: one record must never stop a
partition)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka.partitioner import murmur2
from confluent_kafka import Producer

from eventline.core.settings import Settings
from eventline.core.topics import Topics, ensure_topics
from eventline.producers.validation import parse_event
from eventline.schemas.codec import codec
from eventline.schemas.model import contact_key, event_id_for, minted_contact_id, now
from eventline.sinks.sink import ClickHouseSink
from eventline.sinks.store import Store
from tests.integration.helpers import eventually, put_rule, wait_status

pytestmark = pytest.mark.integration


def _partition(key: str, partitions: int) -> int:
    """The partition of ``key``: the Java client's murmur2, as every eventline producer."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class Raw:
    """A producer that writes whatever bytes it is given, where eventline's producers would
    put the key, and remembers where each landed."""

    def __init__(self, settings: Settings) -> None:
        self.producer = Producer(
            {"bootstrap.servers": settings.bootstrap(), "partitioner": "murmur2_random"}
        )
        self.landed: list[tuple[str, int, int]] = []

    def send(self, topic: str, key: str, value: bytes | None) -> tuple[str, int, int]:
        def report(err: Any, msg: Any) -> None:
            assert err is None, err
            self.landed.append((msg.topic(), msg.partition(), msg.offset()))

        self.producer.produce(topic, key=key.encode(), value=value, on_delivery=report)
        self.producer.flush(30)
        return self.landed[-1]


@pytest.fixture
def raw(settings: Settings) -> Iterator[Raw]:
    writer = Raw(settings)
    yield writer
    del writer.producer  # gone before the broker stops: no reconnect warnings at the end


def _record(account: str, email: str, event_id: str, **fields: Any) -> dict[str, Any]:
    record = parse_event(
        {"email": email, "name": "purchase"},
        account=account,
        source="kafka",
        received_at=now(),
    )
    return {**record, "event_id": event_id, **fields}


def _failed(http: httpx.Client, account: str) -> dict[str, dict[str, Any]]:
    answer = http.get(
        "/v1/incoming",
        params={"status": "failed", "count": 1000},
        headers={"X-Eventline-Account": account},
    )
    assert answer.status_code == 200, answer.text
    return {row["event_id"]: row for row in answer.json()["incoming"]}


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


def test_poison_on_every_input_fails_visibly_and_good_events_pass_after_it(
    http: httpx.Client, settings: Settings, store: Store, raw: Raw
) -> None:
    account = f"poison-{uuid.uuid4().hex[:8]}"
    names = Topics(settings.topic_prefix)
    email, other = _two_emails_on_different_partitions(account, settings.partitions)
    contact = minted_contact_id(f"{account}/email/{email}")
    by_contact_key = contact_key(account, contact)
    good_id = event_id_for(account, "good-1")
    # Rules, so that the good event writes every output topic (tags, segments, workflows).
    put_rule(http, account, "buyers", kind="segment", condition={"kind": "did", "name": "purchase"})
    put_rule(http, account, "tag-buyers", kind="tag", when={"name": "purchase"}, add=["buyer"])
    put_rule(http, account, "thanks", kind="workflow", workflow_id="w", when={"name": "purchase"})

    # -- the worker's inputs, on the partition of the good event ---------------------------
    incoming_key = f"{account}/email/{email}"
    valid = codec().encode("IncomingRecord", _record(account, email, "x"))
    undecodable = [
        raw.send(names.incoming, incoming_key, b"\x00 not avro at all"),
        raw.send(names.incoming, incoming_key, valid[: len(valid) // 2]),
        raw.send(names.incoming, incoming_key, None),
        raw.send(names.by_contact, by_contact_key, b"garbage"),
    ]
    absurd = {
        "p-attempt": {"attempt": -1},
        "p-large": {"properties_json": json.dumps({"blob": "x" * 300_000})},
        "p-ancient": {"occurred_at": datetime(1800, 1, 1, tzinfo=UTC)},
        "p-future": {"received_at": datetime(2300, 1, 1, tzinfo=UTC)},
        "p-nan": {"value": float("nan")},
        "p-nul": {"name": "pur\x00chase"},
        "p-deep": {"properties_json": json.dumps(_nested(300))},
        "p-rule": {"unknown_contact": "sometimes"},
    }
    for event_id, fields in absurd.items():
        record = _record(account, email, event_id, **fields)
        raw.send(names.incoming, incoming_key, codec().encode("IncomingRecord", record))
    unresolved = _record(account, email, "p-unresolved")  # no contact_id on by-contact
    raw.send(names.by_contact, by_contact_key, codec().encode("IncomingRecord", unresolved))

    # -- the sink's inputs, on the partitions of the good event's outputs -----------------
    for topic in (names.events, names.contacts, names.tags, names.segments, names.workflows):
        undecodable.append(raw.send(topic, by_contact_key, b"\xc3\x01 truncated"))
    undecodable.append(raw.send(names.event_status, good_id, b"garbage"))
    refused = _segment_transition(account, contact, seq=-1)  # UInt32 column: refused
    raw.send(names.segments, by_contact_key, codec().encode("SegmentTransition", refused))

    # -- good events after them: same partitions, and others --------------------------------
    headers = {"X-Eventline-Account": account}
    for address, key in ((email, "good-1"), (other, "good-2")):
        answer = http.post(
            "/v1/events",
            json={"email": address, "name": "purchase", "idempotency_key": key},
            headers=headers,
        )
        assert answer.status_code == 202, answer.text
    wait_status(http, good_id, account=account)
    wait_status(http, event_id_for(account, "good-2"), account=account)
    _wait_trigger_stored(store, account, good_id)

    failed = eventually(
        lambda: (f := _failed(http, account)) and set(absurd) | {"p-unresolved"} <= set(f) and f,
        what="every absurd record failed",
    )
    assert "attempt" in failed["p-attempt"]["process_error"]
    assert "properties_json" in failed["p-large"]["process_error"]
    assert failed["p-large"]["properties"] == {}  # reported without the 300 KB
    assert "occurred_at" in failed["p-ancient"]["process_error"]
    assert "received_at" in failed["p-future"]["process_error"]
    for event_id in absurd:  # the worker's and the sink's copies are one row: failed wins
        answer = http.get(f"/v1/events/{event_id}", headers={"X-Eventline-Account": account})
        assert answer.json()["status"] == "failed", (event_id, answer.text)
    assert "value" in failed["p-nan"]["process_error"]
    assert "name" in failed["p-nul"]["process_error"]
    assert "nests deeper" in failed["p-deep"]["process_error"]
    assert "unknown_contact" in failed["p-rule"]["process_error"]
    assert "contact_id" in failed["p-unresolved"]["process_error"]
    refusal = next(r for r in failed.values() if "ClickHouse refused" in r["process_error"])
    assert "segments" in refusal["process_error"]

    unknown = eventually(
        lambda: (
            (f := _failed(http, "unknown"))
            and {f"kafka:{t}:{p}:{o}" for t, p, o in undecodable} <= set(f)
        ),
        what="every undecodable record failed",
    )
    assert unknown


def test_a_batch_spanning_more_partitions_than_one_insert_may_touch_is_split(
    settings: Settings, store: Store, raw: Raw
) -> None:
    """150 events 150 years apart (the events table is partitioned by year; one insert may
    touch 100 partitions): ClickHouse refuses the batch, the sink splits it and stores every
    event. On topics and tables of their own, so that the shared ones keep few partitions."""
    run = uuid.uuid4().hex[:6]
    own = settings.model_copy(
        update={
            "topic_prefix": f"{settings.topic_prefix}-years-{run}",
            "clickhouse_database": f"{settings.clickhouse_database}_years_{run}",
        }
    )
    ensure_topics(own)
    tables = store.sibling(own.clickhouse_database)
    tables.migrate()
    events = [_canonical("acme", "c-1", f"old-{year}", year) for year in range(1900, 2050)]
    for event in events:
        raw.send(
            Topics(own.topic_prefix).events, "acme/c-1", codec().encode("CanonicalEvent", event)
        )
    sink = ClickHouseSink(own, tables)
    running = threading.Thread(target=sink.run, daemon=True)
    running.start()
    try:
        stored = eventually(
            lambda: (
                tables.query("SELECT count() AS n FROM {db}.events FINAL")[0]["n"] == len(events)
            ),
            what="every event of the 150 years stored",
        )
        assert stored
        failed = tables.query("SELECT count() AS n FROM {db}.incoming_events")[0]["n"]
        assert failed == 0  # split, not refused: no event was at fault
    finally:
        sink.stop()
        running.join(timeout=30)
        tables.command(f"DROP DATABASE IF EXISTS {own.clickhouse_database}")


def _two_emails_on_different_partitions(account: str, partitions: int) -> tuple[str, str]:
    """Two emails whose events and contacts land on different partitions."""
    first = f"poisoned.{uuid.uuid4().hex[:8]}@example.com"

    def parts(email: str) -> tuple[int, int]:
        contact = minted_contact_id(f"{account}/email/{email}")
        return (
            _partition(f"{account}/email/{email}", partitions),
            _partition(contact_key(account, contact), partitions),
        )

    while True:
        other = f"clean.{uuid.uuid4().hex[:8]}@example.com"
        if all(a != b for a, b in zip(parts(first), parts(other), strict=True)):
            return first, other


def _segment_transition(account: str, contact: str, seq: int) -> dict[str, Any]:
    return {
        "transition_id": "t-refused",
        "account_id": account,
        "contact_id": contact,
        "segment_id": "refused",
        "transition": "entered",
        "seq": seq,
        "cause": "event",
        "event_id": "p-refused",
        "at": now(),
        "contact_email": None,
        "contact_user_id": None,
    }


def _canonical(account: str, contact: str, event_id: str, year: int) -> dict[str, Any]:
    at = datetime(year, 6, 1, tzinfo=UTC)
    return {
        "event_id": event_id,
        "account_id": account,
        "contact_id": contact,
        "name": "old",
        "occurred_at": at,
        "received_at": now(),
        "processed_at": now(),
        "properties_json": "{}",
        "value": None,
        "is_syncing": True,
        "source": "kafka",
        "idempotency_key": None,
        "contact_email": None,
        "contact_user_id": None,
        "contact_attributes_json": "{}",
        "event_type": None,
    }


def _wait_trigger_stored(store: Store, account: str, event_id: str) -> None:
    def stored() -> bool:
        rows = store.query(
            "SELECT count() AS n FROM {db}.workflow_triggers FINAL "
            "WHERE account_id = {a:String} AND event_id = {e:String}",
            {"a": account, "e": event_id},
        )
        return bool(rows[0]["n"])

    eventually(stored, what=f"the trigger of {event_id} in ClickHouse")
