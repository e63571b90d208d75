"""Accounts and API keys on the real broker: a key acts for its account end to end, every
reader of the accounts topic sees it, and a disabled key is refused."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import httpx
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
)

from eventline.core.kafka import KafkaWriter
from eventline.core.settings import Settings
from eventline.core.topics import ACCOUNTS_COMPACTION_LAG_MS, Topics, admin_client, ensure_topics
from eventline.processes.pipeline import Pipeline
from eventline.schemas.accounts.registry import account_entry
from eventline.schemas.accounts.service import Accounts
from eventline.schemas.codec import codec
from eventline.schemas.model import now
from eventline.sinks.store import Store
from tests.integration.helpers import eventually, unique_email, wait_status


def test_a_key_writes_to_its_account_and_every_gateway_knows_it(
    pipeline: Pipeline, settings: Settings, http: httpx.Client, store: Store
) -> None:
    account = f"acct-{uuid.uuid4().hex[:8]}"
    assert http.post("/v1/accounts", json={"account_id": account}).status_code == 201
    created = http.post(f"/v1/accounts/{account}/keys", json={"label": "e2e"}).json()
    auth = {"Authorization": f"Bearer {created['key']}"}
    email = unique_email("keyed")

    answer = http.post("/v1/events", json={"email": email, "name": "purchase"}, headers=auth)
    assert answer.status_code == 202, answer.text
    wait_status(http, answer.json()["event_id"], account=account)
    rows = store.query(
        "SELECT account_id FROM {db}.events FINAL WHERE contact_email = {e:String}", {"e": email}
    )
    assert [r["account_id"] for r in rows] == [account]

    # Another gateway (a fresh reader of the accounts topic) knows the key too.
    writer = KafkaWriter(settings.bootstrap())
    other = Accounts(settings, writer)
    try:
        other.start()
        assert other.authenticate(created["key"]) == account
        disabled = asyncio.run(other.set_enabled("API_KEY", account, created["key_id"], False))
        assert disabled["enabled"] is False
    finally:
        other.stop()
        writer.close()

    # ... and the running gateway sees the key disabled by the other one.
    def refused() -> bool:
        again = http.post("/v1/events", json={"email": email, "name": "x"}, headers=auth)
        return again.status_code == 403

    eventually(refused, what="the disabled key refused by the running gateway")


def test_an_account_written_by_an_earlier_version_keeps_its_settings_and_ids(
    pipeline: Pipeline, settings: Settings, http: httpx.Client
) -> None:
    account = f"old-{uuid.uuid4().hex[:8]}"
    earlier = {
        **account_entry(account, "Old", 100_000_000 + uuid.uuid4().int % 900_000_000, now()),
        "settings_json": json.dumps(
            {
                "event_names": ["signed up"],
                "emma_event_types": [
                    {
                        "event_type_id": 5,
                        "event_type": "kept",
                        "display_name": "Kept",
                        "created_at": "@D:2026-01-01T00:00:00",
                    }
                ],
            }
        ),
    }
    # As the earlier version wrote it: a whole state under its key, placed by the partitioner.
    writer = KafkaWriter(settings.bootstrap())
    try:
        value = codec().encode("AccountEntry", earlier)
        topic = Topics(settings.topic_prefix).accounts
        partition, _ = asyncio.run(writer.produce_to(topic, f"account/{account}", value, 10.0))
    finally:
        writer.close()
    assert partition == Accounts(settings).partition_of(account)  # changes land beside it

    eventually(lambda: http.get(f"/v1/accounts/{account}").status_code == 200, what="the account")
    key = http.post(f"/v1/accounts/{account}/keys").json()["key"]
    api = {"Api-Token": key}
    name = {"eventTrackingEvent": {"name": "logged in"}}
    assert http.post("/api/3/eventTrackingEvents", json=name, headers=api).status_code == 201
    listed = http.get("/api/3/eventTrackingEvents", headers=api).json()["eventTrackingEvents"]
    assert listed == [{"name": "signed up"}, {"name": "logged in"}]
    auth = {"Authorization": "Basic " + base64.b64encode(f"public:{key}".encode()).decode()}
    new_type = {"event_type": "new", "display_name": "New"}
    created = http.post(f"/{earlier['number']}/events", json=new_type, headers=auth).json()
    assert created["event_type_id"] == 6
    kept = http.get(f"/{earlier['number']}/events/5", headers=auth).json()
    assert kept["event_type"] == "kept"


def test_the_accounts_topic_is_compacted_only_after_an_hour_even_if_created_earlier(
    pipeline: Pipeline, settings: Settings
) -> None:
    admin = admin_client(settings.bootstrap())
    topic = Topics(settings.topic_prefix).accounts

    def lag() -> str:
        (future,) = admin.describe_configs([ConfigResource("topic", topic)]).values()
        return str(future.result(timeout=10)["min.compaction.lag.ms"].value)

    assert lag() == str(ACCOUNTS_COMPACTION_LAG_MS)
    unset = ConfigEntry("min.compaction.lag.ms", "0", incremental_operation=AlterConfigOpType.SET)
    for future in admin.incremental_alter_configs(
        [ConfigResource("topic", topic, incremental_configs=[unset])]
    ).values():
        future.result(timeout=10)
    eventually(lambda: lag() == "0", what="the lag unset, as an earlier version left it")
    ensure_topics(settings)  # what every process does at start
    eventually(lambda: lag() == str(ACCOUNTS_COMPACTION_LAG_MS), what="the lag set again")
