"""The demo: start a local pipeline, send events as a client would, print what came out."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from eventline.pipeline import Pipeline
from eventline.settings import Settings

STRICT = "demo-strict"  # an account whose unknown-contact policy is 'fail'
FINAL = {"processed", "duplicate", "failed", "rejected"}


def wait_final(
    client: httpx.Client,
    event_id: str,
    account: str | None = None,
    timeout_s: float = 90.0,
    want: set[str] = FINAL,
) -> dict[str, Any]:
    """Poll an event's status until it is one of ``want`` (or the deadline passes)."""
    headers = {"X-Eventline-Account": account} if account else {}
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = client.get(f"/v1/events/{event_id}", headers=headers)
        if answer.status_code == 200:
            body = answer.json()
            if body["status"] in want and all(r["status"] in FINAL for r in body["receipts"]):
                return body
        time.sleep(0.3)
    raise TimeoutError(f"event {event_id} not final after {timeout_s}s: {body}")


def _show(title: str, rows: list[dict[str, Any]], columns: list[str], cut: int = 40) -> None:
    print(f"\n== {title}")
    widths = {c: min(cut, max([len(c)] + [len(str(r.get(c))) for r in rows])) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row.get(c))[:cut].ljust(widths[c]) for c in columns))


def run_demo(settings: Settings, keep_running: bool = False) -> None:
    """Start the pipeline, send the demo traffic, print results; stop unless keep_running."""
    settings = settings.model_copy(
        update={
            "unknown_contact_by_account": {**settings.unknown_contact_by_account, STRICT: "fail"}
        }
    )
    pipeline = Pipeline(settings)
    print("starting the local pipeline (Kafka, worker, sink, gateway)...", flush=True)
    started = time.monotonic()
    pipeline.start()
    assert pipeline.gateway is not None
    print(f"up in {time.monotonic() - started:.1f}s: gateway {pipeline.gateway.url}")
    try:
        with httpx.Client(base_url=pipeline.gateway.url, timeout=30) as client:
            _traffic(client)
    finally:
        if keep_running:
            print(f"\npipeline still running at {pipeline.gateway.url}; Ctrl-C to stop")
            pipeline.run_until_signal()
        else:
            pipeline.stop()


def _traffic(client: httpx.Client) -> None:
    run = uuid.uuid4().hex[:6]
    email = f"ada.{run}@example.com"
    print(f"\n-> register contact {email} (user_id u-{run}, plan=pro)")
    client.post(
        "/v1/contacts", json={"email": email, "user_id": f"u-{run}", "attributes": {"plan": "pro"}}
    ).raise_for_status()
    sent: list[str] = []

    def send(label: str, **kwargs: Any) -> httpx.Response:
        answer = client.post("/v1/events", **kwargs)
        print(f"-> {label}: HTTP {answer.status_code} {answer.json()}")
        return answer

    purchase = {
        "email": email.upper(),
        "name": "purchase",
        "value": 12.5,
        "properties": {"sku": "MUG-1"},
        "idempotency_key": f"order-{run}",
    }
    sent.append(send("purchase (email in upper case)", json=purchase).json()["event_id"])
    sent.append(
        send("the same purchase again (same idempotency_key)", json=purchase).json()["event_id"]
    )
    bulk = [
        {"user_id": f"u-{run}", "name": "viewed_product", "properties": {"sku": "MUG-1"}},
        {"email": email, "name": "registered_referral", "properties": {"referral_code": "GAMER42"}},
    ]
    sent += [r["event_id"] for r in send("bulk of two", json=bulk).json()["results"]]
    form = {
        "email": email,
        "name": "file download request",
        "properties[url]": "https://example.com/file.pdf",
    }
    sent.append(send("form-data", data=form).json()["event_id"])
    send("invalid (no name)", json={"email": email})
    strict = {"email": f"nobody.{run}@example.com", "name": "purchase", "value": 3.0}
    failed_id = client.post(
        "/v1/events", json=strict, headers={"X-Eventline-Account": STRICT}
    ).json()["event_id"]
    print(f"-> event for an unknown contact in account {STRICT!r} (policy 'fail'): {failed_id}")

    for event_id in sent:
        wait_final(client, event_id)
    failed = wait_final(client, failed_id, STRICT)
    contact = client.get("/v1/contacts", params={"email": email}).json()["contacts"][0]
    timeline = client.get(f"/v1/contacts/{contact['contact_id']}/events").json()
    _show(
        f"canonical events of {email} in ClickHouse (timeline, newest first; "
        f"{timeline['total_items']} events)",
        timeline["events"],
        ["occurred_at", "name", "value", "properties", "source", "event_id"],
    )
    statuses = [client.get(f"/v1/events/{e}").json() for e in dict.fromkeys(sent)]
    _show(
        "status of every event sent",
        [
            {
                "event_id": s["event_id"],
                "status": s["status"],
                "receipts": ",".join(r["status"] for r in s["receipts"]),
            }
            for s in statuses
        ],
        ["event_id", "status", "receipts"],
    )
    _show(
        f"failed event in account {STRICT!r}",
        [failed],
        ["event_id", "status", "process_error"],
        cut=200,
    )
    print(f"\n-> register {strict['email']} in {STRICT!r}, then re-drive the failed event")
    client.post(
        "/v1/contacts", json={"email": strict["email"]}, headers={"X-Eventline-Account": STRICT}
    ).raise_for_status()
    # No wait needed: registration and re-drive share the email's partition, in that order.
    client.post(f"/v1/events/{failed_id}/redrive", headers={"X-Eventline-Account": STRICT})
    after = wait_final(client, failed_id, STRICT, want={"processed"})
    print(f"   after re-drive: {after['status']} (attempt {after['receipts'][0]['attempt']})")
