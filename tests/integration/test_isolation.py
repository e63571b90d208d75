"""A key of one account never reads or writes another account's data, whatever ids appear in
the path or the headers: every dialect, on the real pipeline."""

from __future__ import annotations

import base64
import hashlib
import uuid

import httpx

from eventline.processes.pipeline import Pipeline
from tests.integration.helpers import eventually, unique_email, wait_status


def _account(http: httpx.Client) -> tuple[str, int, str]:
    account_id = f"iso-{uuid.uuid4().hex[:8]}"
    number = http.post("/v1/accounts", json={"account_id": account_id}).json()["number"]
    key = http.post(f"/v1/accounts/{account_id}/keys").json()["key"]
    return account_id, number, key


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"any:{key}".encode()).decode()}


def test_another_accounts_key_sees_and_touches_nothing(
    pipeline: Pipeline, http: httpx.Client
) -> None:
    owner, owner_number, owner_key = _account(http)
    _, _, intruder_key = _account(http)
    email = unique_email("private")
    http.post("/v1/contacts", json={"email": email}, headers={"X-Api-Key": owner_key})
    sent = http.post(
        "/v1/events", json={"email": email, "name": "secret"}, headers={"X-Api-Key": owner_key}
    ).json()
    wait_status(http, sent["event_id"], account=owner)
    contact_id = eventually(
        lambda: (
            http.get("/v1/contacts", params={"email": email}, headers={"X-Api-Key": owner_key})
            .json()
            .get("contacts")
        ),
        what="the owner's contact",
    )[0]["contact_id"]

    as_intruder = {"X-Api-Key": intruder_key}
    assert http.get(f"/v1/events/{sent['event_id']}", headers=as_intruder).status_code == 404
    assert (
        http.get("/v1/contacts", params={"email": email}, headers=as_intruder).json()["contacts"]
        == []
    )
    assert http.get(f"/v1/contacts/{contact_id}/events", headers=as_intruder).status_code == 404
    # naming the owner's account in the header does not help
    named = {**as_intruder, "X-Eventline-Account": owner}
    assert http.get(f"/v1/events/{sent['event_id']}", headers=named).status_code == 403
    md5 = hashlib.md5(email.encode()).hexdigest()
    mailchimp = http.get(f"/3.0/lists/l/members/{md5}/events", headers=_basic(intruder_key))
    assert mailchimp.status_code == 404
    api = {"Api-Token": intruder_key}
    assert http.get(f"/api/3/contacts/{contact_id}/trackingLogs", headers=api).status_code == 404
    assert http.get(f"/{owner_number}/events", headers=_basic(intruder_key)).status_code == 403
    form = {
        "actid": str(owner_number),
        "key": intruder_key,
        "event": "x",
        "visit": f'{{"email": "{email}"}}',
    }
    assert http.post("/event", data=form).status_code == 403
    listed = http.get("/api/v1/public/authenticated/events", headers=as_intruder).json()
    assert listed["total_items"] == 0
    assert (
        http.post(f"/v1/events/{sent['event_id']}/redrive", headers=as_intruder).status_code == 404
    )
