"""Waiting for conditions with deadlines (never sleeping for luck), and reading topics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from confluent_kafka import Consumer, TopicPartition

from eventline.core.errors import InvalidEvent
from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.schemas.codec import codec

T = TypeVar("T")
DEADLINE_S = 90.0
FINAL = {"processed", "duplicate", "failed", "rejected"}


def eventually(
    check: Callable[[], T | None], timeout_s: float = DEADLINE_S, what: str = "condition"
) -> T:
    """Call ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout_s:.0f}s (last: {last!r})")


def unique_email(label: str = "user") -> str:
    return f"{label}.{uuid.uuid4().hex[:10]}@example.com"


def status_of(http: httpx.Client, event_id: str, account: str | None = None) -> dict[str, Any]:
    headers = {"X-Eventline-Account": account} if account else {}
    answer = http.get(f"/v1/events/{event_id}", headers=headers)
    return answer.json() if answer.status_code == 200 else {}


def wait_status(
    http: httpx.Client,
    event_id: str,
    want: set[str] | str = "processed",
    account: str | None = None,
    receipts: int = 1,
) -> dict[str, Any]:
    """Wait until the event's status is in ``want`` and ``receipts`` receipts are final."""
    wanted = {want} if isinstance(want, str) else want
    last: list[dict[str, Any]] = [{}]

    def check() -> dict[str, Any] | None:
        body = last[0] = status_of(http, event_id, account)
        done = [r for r in body.get("receipts", []) if r["status"] in FINAL]
        if body.get("status") in wanted and len(done) >= receipts:
            return body
        return None

    try:
        return eventually(check, what=f"event {event_id} status {wanted}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answer: {last[0] or 'HTTP 404'}") from None


def read_topic(
    bootstrap: str,
    topic: str,
    schema: str,
    match: Callable[[dict[str, Any]], bool],
    expect: int = 1,
    settle_s: float = 0.0,
) -> list[tuple[bytes | None, dict[str, Any]]]:
    """Read ``topic`` from the beginning until ``expect`` matching records were seen.

    ``settle_s`` keeps reading a little longer after that, to prove no extra record follows.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
        }
    )
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, 0) for p in metadata.partitions])
    found: list[tuple[bytes | None, dict[str, Any]]] = []
    deadline = time.monotonic() + DEADLINE_S
    settle_until: float | None = None
    try:
        while time.monotonic() < deadline:
            if settle_until is not None and time.monotonic() > settle_until:
                break
            for msg in consumer.consume(500, 0.5):
                if msg.error() is None:
                    try:
                        record = codec().decode(schema, msg.value())
                    except InvalidEvent:
                        continue  # a poison record another test wrote (test_poison)
                    if match(record):
                        found.append((msg.key(), record))
            if len(found) >= expect and settle_until is None:
                settle_until = time.monotonic() + settle_s
    finally:
        consumer.close()
    return found


def group_positions(bootstrap: str, group: str, prefix: str) -> str:
    """Committed offset against log end of ``group`` on every ``prefix`` topic, for failure
    messages: a partition whose committed offset stays behind shows where a record is stuck."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        topics = [t for t in consumer.list_topics(timeout=10).topics if t.startswith(prefix)]
        parts = [
            TopicPartition(t, p)
            for t in sorted(topics)
            for p in consumer.list_topics(t, timeout=10).topics[t].partitions
        ]
        lines = []
        for tp in consumer.committed(parts, timeout=10):
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            if high > 0:
                lines.append(f"{tp.topic}[{tp.partition}] committed {tp.offset} end {high}")
        return "; ".join(lines)
    finally:
        consumer.close()


def put_rule(http: httpx.Client, account: str, rule_id: str, **definition: Any) -> dict[str, Any]:
    """Create or replace a rule of ``account`` through the API."""
    answer = http.put(
        f"/v1/rules/{rule_id}", json=definition, headers={"X-Eventline-Account": account}
    )
    assert answer.status_code in (200, 201), answer.text
    body: dict[str, Any] = answer.json()
    return body


def send_event(http: httpx.Client, account: str, **event: Any) -> str:
    """Post one native event for ``account``; its event id."""
    answer = http.post("/v1/events", json=event, headers={"X-Eventline-Account": account})
    assert answer.status_code == 202, answer.text
    event_id: str = answer.json()["event_id"]
    return event_id


def register(http: httpx.Client, account: str, email: str, **fields: Any) -> str:
    """Register a contact of ``account``, wait until it is processed; its contact id."""
    headers = {"X-Eventline-Account": account}
    answer = http.post("/v1/contacts", json={"email": email, **fields}, headers=headers)
    assert answer.status_code == 202, answer.text
    wait_status(http, answer.json()["event_id"], account=account)

    # The registration's status and the contact's row reach ClickHouse in batches of their
    # own topics: "processed" may be stored a moment before the row.
    def found() -> list[dict[str, Any]]:
        rows = http.get("/v1/contacts", params={"email": email}, headers=headers).json()
        contacts: list[dict[str, Any]] = rows["contacts"]
        return contacts

    contact_id: str = eventually(found, what=f"contact {email} stored")[0]["contact_id"]
    return contact_id


AUTOMATION_SCHEMAS = {
    "tags": "TagChange",
    "segments": "SegmentTransition",
    "workflows": "WorkflowTrigger",
}


def automation_messages(
    settings: Settings, kind: str, account: str, expect: int = 1, settle_s: float = 1.0
) -> list[dict[str, Any]]:
    """Every message of ``account`` on the automation topic ``kind`` (tags, segments,
    workflows), in topic order, after ``expect`` of them were seen and ``settle_s`` more (to
    prove no other follows)."""
    topic = getattr(Topics(settings.topic_prefix), kind)
    found = read_topic(
        settings.bootstrap(),
        topic,
        AUTOMATION_SCHEMAS[kind],
        lambda r: r["account_id"] == account,
        expect,
        settle_s,
    )
    return [record for _key, record in found]
