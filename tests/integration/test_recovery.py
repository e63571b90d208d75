"""Nothing lost, nothing doubled: worker crashes, sink replays, pipeline restarts."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
from confluent_kafka import Consumer, TopicPartition

from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.processes.pipeline import Pipeline, WorkerProcess
from eventline.schemas.clock_topic import advance
from eventline.schemas.codec import codec
from eventline.sinks.sink import ClickHouseSink
from eventline.sinks.store import Store
from tests.integration.helpers import (
    automation_messages,
    eventually,
    group_positions,
    put_rule,
    send_event,
    status_of,
    unique_email,
    wait_status,
)


def test_worker_killed_recovers_tables_from_changelogs(
    pipeline: Pipeline, settings: Settings, http: httpx.Client, store: Store
) -> None:
    email = unique_email("crash")
    user_id = "crash-" + email
    registration = http.post(
        "/v1/contacts", json={"email": email, "user_id": user_id, "attributes": {"plan": "pro"}}
    )
    wait_status(http, registration.json()["event_id"])
    keyed = {"email": email, "name": "purchase", "idempotency_key": "k-" + email}
    first = http.post("/v1/events", json=keyed).json()["event_id"]
    wait_status(http, first)

    assert pipeline.worker is not None
    pipeline.worker.stop(kill=True)  # kill -9: no clean shutdown, no final commit
    # Accepted while no worker runs: must be processed once a worker is back.
    by_user = http.post("/v1/events", json={"user_id": user_id, "name": "login"})
    assert by_user.status_code == 202
    resend = http.post("/v1/events", json=keyed)
    assert resend.status_code == 202

    pipeline.worker = WorkerProcess(settings)
    pipeline.worker.start()
    pipeline.worker.wait_ready()

    wait_status(http, by_user.json()["event_id"])
    # identities recovered: the user id still resolves to the registered contact;
    # contacts recovered: the join still sees the attributes.
    rows = store.query(
        "SELECT name, contact_attributes FROM {db}.events FINAL "
        "WHERE contact_email = {e:String} ORDER BY name",
        {"e": email},
    )
    assert [r["name"] for r in rows] == ["login", "purchase"]
    assert all(json.loads(r["contact_attributes"]) == {"plan": "pro"} for r in rows)
    # seen recovered: the resend is a duplicate, not a second purchase.
    try:
        status = wait_status(http, first, receipts=2)
    except AssertionError as exc:
        group = f"{settings.topic_prefix}-worker"
        where = group_positions(settings.bootstrap(), group, settings.topic_prefix)
        raise AssertionError(f"{exc}; worker group: {where}") from None
    assert sorted(r["status"] for r in status["receipts"]) == ["duplicate", "processed"]


def test_sink_replay_of_the_same_or_recut_batches_never_doubles(
    pipeline: Pipeline, settings: Settings, store: Store, http: httpx.Client
) -> None:
    email = unique_email("replay")
    answer = http.post("/v1/events", json=[{"email": email, "name": f"e{i}"} for i in range(4)])
    for result in answer.json()["results"]:
        wait_status(http, result["event_id"])
    topic = Topics(settings.topic_prefix).events
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap(),
            "group.id": "replay-test",
            "enable.auto.commit": False,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    batch = [m for m in consumer.consume(10_000, 5.0) if m.error() is None]
    consumer.close()
    assert len(batch) >= 4

    def counts() -> tuple[int, int]:
        raw = store.query("SELECT count() AS n FROM {db}.events")[0]["n"]
        final = store.query("SELECT count() AS n FROM {db}.events FINAL")[0]["n"]
        return int(raw), int(final)

    # Not run: only its write path is used (its own group, so the live sink is not disturbed).
    assert pipeline.accounts is not None
    replayer = ClickHouseSink(
        settings,
        store,
        group_id=f"replay-{uuid.uuid4()}",
        erased=pipeline.accounts.erased_event_types,  # as every sink is run
    )
    _, final_before = counts()
    replayer.write_batch(batch)  # a replay of everything, cut differently than the live sink
    raw_after_replay, final_after_replay = counts()
    replayer.write_batch(batch)  # a retry of the very same batch: same token, dropped
    raw_after_retry, final_after_retry = counts()
    # Background merges may collapse rows at any time, so raw counts only ever go down here.
    assert raw_after_retry <= raw_after_replay and final_after_retry == final_after_replay
    replayer.write_batch(batch[: len(batch) // 2])  # re-cut again
    replayer.write_batch(batch[len(batch) // 2 :])
    assert counts()[1] == final_before == final_after_replay
    replayer.close()


def test_a_retried_insert_with_the_same_token_is_dropped_by_clickhouse(store: Store) -> None:
    # Same key, different content, same token: only token deduplication keeps the first row
    # (a merge would keep the newer one), so this proves the dedup window is on.
    from datetime import UTC, datetime

    from eventline.sinks.rows import CONTACT_COLUMNS

    contact_id = f"token-probe-{uuid.uuid4()}"
    first = (
        "default",
        contact_id,
        None,
        None,
        '{"v": 1}',
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
        "a",
        [],
    )
    later = (None,) * (len(CONTACT_COLUMNS) - len(first))  # columns added since: their defaults
    first += later
    retry = (*first[:4], '{"v": 2}', first[5], datetime(2026, 1, 2, tzinfo=UTC), "b", [], *later)
    token = f"probe-{contact_id}"
    store.insert("contacts", [first], CONTACT_COLUMNS, token)
    store.insert("contacts", [retry], CONTACT_COLUMNS, token)
    rows = store.query(
        "SELECT attributes FROM {db}.contacts FINAL WHERE contact_id = {c:String}",
        {"c": contact_id},
    )
    assert [r["attributes"] for r in rows] == ['{"v": 1}']


def test_pipeline_stop_and_restart_loses_no_accepted_event(
    pipeline: Pipeline, http: httpx.Client, store: Store
) -> None:
    email = unique_email("restart")
    bulk = [{"email": email, "name": f"step_{i}"} for i in range(50)]
    answer = http.post("/v1/events", json=bulk)
    assert answer.status_code == 202
    ids = [r["event_id"] for r in answer.json()["results"]]
    pipeline.stop(stop_kafka=False)  # gateway, worker and sink stop at once
    pipeline.start()
    assert pipeline.gateway is not None
    with httpx.Client(base_url=pipeline.gateway.url, timeout=30) as client:
        for event_id in ids:
            wait_status(client, event_id)
    rows = store.query(
        "SELECT count() AS n FROM {db}.events FINAL WHERE contact_email = {e:String}", {"e": email}
    )
    assert rows[0]["n"] == 50


def test_migrations_are_recorded_and_applied_once(store: Store) -> None:
    recorded = store.query("SELECT version, name FROM {db}.schema_migrations ORDER BY version")
    assert recorded[0] == {"version": 1, "name": "0001_initial.sql"}
    assert store.migrate() == []  # a second start applies nothing
    assert len(store.query("SELECT version FROM {db}.schema_migrations")) == len(recorded)


def _wait_group_empty(settings: Settings, group: str) -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": settings.bootstrap()})

    def empty() -> bool:
        described = admin.describe_consumer_groups([group])[group].result(timeout=10)
        return not described.members

    eventually(empty, timeout_s=60, what=f"group {group} without members")


def _rewind_to_first_record_of(settings: Settings, group: str, account: str) -> None:
    """Move the worker group's by-contact offsets back to the account's first records, so the
    worker processes them again (as after a crash before its commit)."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient

    topic = Topics(settings.topic_prefix).by_contact
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap(), "group.id": f"r-{uuid.uuid4()}"}
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    first: dict[int, int] = {}
    for msg in consumer.consume(100_000, 5.0):
        value = msg.value() or b""
        if msg.error() is not None or codec().name_of(value) != "IncomingRecord":
            continue  # segment checks are not requests
        if codec().decode("IncomingRecord", value)["account_id"] == account:
            first.setdefault(msg.partition(), msg.offset())
    consumer.close()
    assert first, f"no by-contact records of {account}"
    admin = AdminClient({"bootstrap.servers": settings.bootstrap()})
    request = ConsumerGroupTopicPartitions(
        group, [TopicPartition(topic, p, offset) for p, offset in first.items()]
    )
    admin.alter_consumer_group_offsets([request])[group].result(timeout=30)


def test_automation_state_survives_a_crash_and_a_replay_repeats_the_same_messages(
    pipeline: Pipeline, settings: Settings, http: httpx.Client, store: Store
) -> None:
    account = f"crash-{uuid.uuid4().hex[:8]}"
    put_rule(http, account, "referrer", kind="tag", when={"name": "registered_referral"},
             add=["referrer"])  # fmt: skip
    put_rule(http, account, "discount", kind="workflow", workflow_id="discount",
             when={"name": "registered_referral"}, once_per_contact=True)  # fmt: skip
    put_rule(http, account, "active-7d", kind="segment",
             condition={"kind": "did", "name": "login", "within_days": 7})  # fmt: skip
    email = unique_email("automation-crash")
    send_event(http, account, email=email, name="registered_referral")
    wait_status(http, send_event(http, account, email=email, name="login"), account=account)

    def read(kind: str, expect: int, settle_s: float = 1.0) -> list[Any]:
        return automation_messages(settings, kind, account, expect, settle_s)

    (trigger,) = read("workflows", 1)

    assert pipeline.worker is not None
    pipeline.worker.stop(kill=True)
    group = f"{settings.topic_prefix}-worker"
    _wait_group_empty(settings, group)
    _rewind_to_first_record_of(settings, group, account)
    pipeline.worker = WorkerProcess(settings)
    pipeline.worker.start()
    pipeline.worker.wait_ready()

    # after the replay, the same contact acts again: state (tags, fired, segments) survived
    send_event(http, account, email=email, name="registered_referral")
    wait_status(http, send_event(http, account, email=email, name="login"), account=account)
    triggers = read("workflows", 2, settle_s=2.0)
    assert {t["trigger_id"] for t in triggers} == {trigger["trigger_id"]}  # repeated, not new
    tags = read("tags", 2)
    assert {(t["event_id"], t["tag"]) for t in tags} == {(trigger["event_id"], "referrer")}
    transitions = read("segments", 2)
    assert {t["transition_id"] for t in transitions} == {transitions[0]["transition_id"]}

    rows = eventually(
        lambda: store.query(
            "SELECT count() AS n FROM {db}.workflow_triggers FINAL WHERE account_id = {a:String}",
            {"a": account},
        )[0]["n"],
        what="the trigger in ClickHouse",
    )
    assert rows == 1
    # the segment clock works on the recovered state: day 8 ends the membership
    advance(settings, timedelta(days=8))
    exited = read("segments", 3)[-1]
    assert (exited["transition"], exited["cause"]) == ("exited", "time")


def test_a_worker_started_again_after_sigkill_takes_its_partitions_back_at_once(
    pipeline: Pipeline, settings: Settings, http: httpx.Client
) -> None:
    """Static membership: the new process presents the dead one's name, so the group hands it
    the partitions without waiting for the dead member's session (60 s here) to time out."""
    patient = settings.model_copy(update={"worker_session_timeout_s": 60.0})
    assert pipeline.worker is not None
    pipeline.worker.stop()
    pipeline.worker = WorkerProcess(patient)
    pipeline.worker.start()
    pipeline.worker.wait_ready()
    wait_status(http, http.post("/v1/events", json=_login()).json()["event_id"])

    pipeline.worker.stop(kill=True)
    pipeline.worker = WorkerProcess(patient)
    pipeline.worker.start()
    event_id = http.post("/v1/events", json=_login()).json()["event_id"]
    try:
        eventually(
            lambda: status_of(http, event_id).get("status") == "processed",
            timeout_s=30.0,  # half the dead member's session: only a take-over passes
            what="the event processed by the restarted worker",
        )
    finally:  # the other tests run with the session's own settings
        pipeline.worker.stop()
        pipeline.worker = WorkerProcess(settings)
        pipeline.worker.start()
        pipeline.worker.wait_ready()


def _login() -> dict[str, Any]:
    return {"email": unique_email("restart"), "name": "login"}
