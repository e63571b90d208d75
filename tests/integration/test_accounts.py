"""Accounts and API keys on the real broker: a key acts for its account end to end, every
reader of the accounts topic sees it, and a disabled key is refused."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from eventline.pipeline import Pipeline
from eventline.settings import Settings
from producers.accounts.service import Accounts
from producers.kafka import KafkaWriter
from sinks.store import Store
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
