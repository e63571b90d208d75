"""ActiveCampaign dialect end to end: the guide's requests over HTTP on the real broker, read
back through tracking logs and activities; events for unknown contacts are not written."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from eventline.processes.pipeline import Pipeline
from tests.integration.helpers import eventually, unique_email, wait_status


def test_the_guides_event_is_spawned_logged_and_kept_after_its_name_is_deleted(
    pipeline: Pipeline, http: httpx.Client
) -> None:
    account_id = f"ac-{uuid.uuid4().hex[:8]}"
    account = http.post("/v1/accounts", json={"account_id": account_id}).json()
    key = http.post(f"/v1/accounts/{account_id}/keys").json()["key"]
    api = {"Api-Token": key}
    email = unique_email("ac")
    registered = http.post("/v1/contacts", json={"email": email}, headers={"X-Api-Key": key})
    assert registered.status_code == 202
    name = {"eventTrackingEvent": {"name": "file download request"}}
    assert http.post("/api/3/eventTrackingEvents", json=name, headers=api).status_code == 201

    form = {
        "actid": str(account["number"]),
        "key": key,
        "event": "file download request",
        "eventdata": "https://www.yoursite.com/downloads/file.pdf",
        "visit": f'{{"email":"{email}"}}',
    }
    spawned = http.post("/event", data=form)
    assert spawned.status_code == 200 and spawned.json() == {
        "success": 1,
        "message": "Event spawned",
    }
    nobody = http.post("/event", data={**form, "visit": '{"email":"nobody@example.com"}'})
    assert nobody.json()["success"] == 1  # accepted, then failed: the contact does not exist

    contact_id = eventually(
        lambda: (
            http.get("/v1/contacts", params={"email": email}, headers={"X-Api-Key": key})
            .json()
            .get("contacts")
        ),
        what="the contact in ClickHouse",
    )[0]["contact_id"]

    def logs() -> list[dict[str, Any]] | None:
        answer = http.get(f"/api/3/contacts/{contact_id}/trackingLogs", headers=api)
        return answer.json()["trackingLogs"] or None if answer.status_code == 200 else None

    (log,) = eventually(logs, what="the tracking log")
    assert log["type"] == "file download request"
    assert log["value"] == "https://www.yoursite.com/downloads/file.pdf"
    assert log["contact"] == log["subscriberid"] == contact_id
    followed = http.get(log["links"]["contact"], headers=api)  # every link leads somewhere
    assert followed.status_code == 200 and followed.json()["contact"]["id"] == contact_id
    assert http.get(followed.json()["contact"]["links"]["trackingLogs"], headers=api).json()[
        "trackingLogs"
    ] == [log]
    activities = http.get("/api/3/activities", params={"contact": contact_id}, headers=api).json()
    assert activities["meta"] == {"total": "1"}
    assert activities["activities"][0]["reference_id"] == log["id"]

    deleted = http.delete("/api/3/eventTrackingEvents/file%20download%20request", headers=api)
    assert deleted.status_code == 200
    assert http.get(f"/api/3/contacts/{contact_id}/trackingLogs", headers=api).json()[
        "trackingLogs"
    ] == [log]

    def failed() -> dict[str, Any] | None:
        rows = http.get(
            "/v1/incoming", params={"status": "failed"}, headers={"X-Api-Key": key}
        ).json()["incoming"]
        return rows[0] if rows else None

    row = eventually(failed, what="the event for an unknown contact marked failed")
    assert row["email"] == "nobody@example.com" and "existing contact" in row["process_error"]

    # Re-driven, it still needs an existing contact; once registered, it goes through.
    headers = {"X-Api-Key": key}
    failed_id = row["event_id"]
    assert http.post(f"/v1/events/{failed_id}/redrive", headers=headers).status_code == 202
    wait_status(http, failed_id, want="failed", account=account_id, receipts=1)

    def attempt_failed() -> dict[str, Any] | None:
        body = http.get(f"/v1/events/{failed_id}", headers=headers).json()
        receipt = body["receipts"][0]
        return body if receipt["attempt"] == 1 and receipt["status"] == "failed" else None

    eventually(attempt_failed, what="the re-driven event failed again, not creating a contact")
    http.post("/v1/contacts", json={"email": "nobody@example.com"}, headers=headers)
    assert http.post(f"/v1/events/{failed_id}/redrive", headers=headers).status_code == 202
    wait_status(http, failed_id, account=account_id)


def test_the_tracking_switch_and_the_whitelist_listing(
    pipeline: Pipeline, http: httpx.Client
) -> None:
    account_id = f"ac-{uuid.uuid4().hex[:8]}"
    account = http.post("/v1/accounts", json={"account_id": account_id}).json()
    key = http.post(f"/v1/accounts/{account_id}/keys").json()["key"]
    api = {"Api-Token": key}
    assert http.get("/api/3/eventTracking", headers=api).json() == {
        "eventTracking": {"enabled": True}
    }
    off = {"eventTracking": {"enabled": False}}
    assert http.post("/api/3/eventTracking", json=off, headers=api).json() == off
    assert http.get("/api/3/eventTracking", headers=api).json() == off
    form = {
        "actid": str(account["number"]),
        "key": key,
        "event": "login",
        "visit": '{"email": "ada@example.com"}',
    }
    refused = http.post("/event", data=form)
    assert refused.status_code == 403 and refused.json()["success"] == 0

    def rejected() -> list[dict[str, Any]] | None:
        rows = http.get(
            "/v1/incoming", params={"status": "rejected"}, headers={"X-Api-Key": key}
        ).json()["incoming"]
        return rows or None

    (row,) = eventually(rejected, what="the refused event recorded as rejected")
    assert row["name"] == "login" and "switched off" in row["process_error"]
    on = {"eventTracking": {"enabled": True}}
    assert http.post("/api/3/eventTracking", json=on, headers=api).json() == on
    assert http.post("/event", data=form).json()["success"] == 1

    for name in ("file download request", "login"):
        body = {"eventTrackingEvent": {"name": name}}
        assert http.post("/api/3/eventTrackingEvents", json=body, headers=api).status_code == 201
    assert http.get("/api/3/eventTrackingEvents", headers=api).json() == {
        "eventTrackingEvents": [{"name": "file download request"}, {"name": "login"}],
        "meta": {"total": 2},
    }
