"""The demo: start a local pipeline, send events as a client would, print what came out."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx

from eventline.core.settings import Settings
from eventline.processes.pipeline import Pipeline
from eventline.sinks.store import Store

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
    print(
        f"starting the local pipeline from {settings.home.resolve()} (EVENTLINE_HOME)", flush=True
    )
    started = time.monotonic()
    pipeline.start(say=lambda line: print(f"  {line}", flush=True))
    assert pipeline.gateway is not None
    print(f"up in {time.monotonic() - started:.1f}s: gateway {pipeline.gateway.url}")
    try:
        with httpx.Client(base_url=pipeline.gateway.url, timeout=30) as client:
            run = uuid.uuid4().hex[:6]
            _rules(client)
            _traffic(client, run)
            assert pipeline.store is not None
            _automation(client, pipeline.store, run)
    finally:
        if keep_running:
            print(f"\npipeline still running at {pipeline.gateway.url}; Ctrl-C to stop")
            pipeline.run_until_signal()
        else:
            pipeline.stop()


# The seeds' scenarios as rules of the default account (PUT: the same each run).
RULES: dict[str, dict[str, Any]] = {
    "mug-viewers": {
        "kind": "tag",
        "when": {"name": "viewed_product", "where": [{"property": "sku", "op": "contains",
                                                       "value": "MUG"}]},
        "add": ["mug-enthusiast"],
    },
    "mug-enthusiasts": {"kind": "segment", "name": "Mug enthusiasts", "condition": {
        "kind": "did", "name": "viewed_product",
        "where": [{"property": "sku", "op": "contains", "value": "MUG"}]}},
    "referrers": {"kind": "segment", "name": "Referrers",
                  "condition": {"kind": "did", "name": "registered_referral"}},
    "abandoned-cart": {"kind": "segment", "name": "Abandoned cart", "condition": {
        "kind": "then_not", "first": "cart", "then": "purchase", "within_s": 7200}},
    "re-engagement": {"kind": "segment", "name": "Away for 14 days", "condition": {
        "kind": "all", "conditions": [{"kind": "did", "name": "login"},
                                      {"kind": "did_not", "name": "login", "within_days": 14}]}},
    "referral-discount": {"kind": "workflow", "workflow_id": "referral-discount-email",
                          "when": {"name": "registered_referral"}, "once_per_contact": True},
    "send-file": {"kind": "workflow", "workflow_id": "send-file",
                  "when": {"name": "file download request"}},
}  # fmt: skip


def _rules(client: httpx.Client) -> None:
    print("\n-> rules of the default account (PUT /v1/rules/{rule_id})")
    for rule_id, definition in RULES.items():
        answer = client.put(f"/v1/rules/{rule_id}", json=definition)
        answer.raise_for_status()
        print(f"   {rule_id}: {definition['kind']}, version {answer.json()['version']}")


def _traffic(client: httpx.Client, run: str) -> None:
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


def _automation(client: httpx.Client, store: Store, run: str) -> None:
    """A cart left three hours ago and a user away for twenty days; then what the rules did."""
    from eventline.core.clock import now

    email, cart, away = (f"{who}.{run}@example.com" for who in ("ada", "cy", "bo"))
    print(f"\n-> {cart} put a mug in the cart 3 hours ago; {away} last logged in 20 days ago")
    for body in (
        {"email": cart, "name": "cart", "properties": {"sku": "MUG-1"},
         "occurred_at": (now() - timedelta(hours=3)).isoformat()},
        {"email": away, "name": "login", "occurred_at": (now() - timedelta(days=20)).isoformat()},
    ):  # fmt: skip
        wait_final(client, client.post("/v1/events", json=body).json()["event_id"])
    people = [email, cart, away]
    params = {"emails": people}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        transitions = store.query(
            "SELECT at, contact_email, segment_id, transition, cause "
            "FROM {db}.segment_transitions FINAL WHERE contact_email IN {emails:Array(String)} "
            "ORDER BY at, segment_id",
            params,
        )
        if len(transitions) >= 4:
            break
        time.sleep(0.3)
    tags = store.query(
        "SELECT changed_at, contact_email, tag, change, rule_id FROM {db}.tag_changes FINAL "
        "WHERE contact_email IN {emails:Array(String)} ORDER BY changed_at",
        params,
    )
    triggers = store.query(
        "SELECT triggered_at, contact_email, workflow_id, event_name, personalization "
        "FROM {db}.workflow_triggers FINAL WHERE contact_email IN {emails:Array(String)} "
        "ORDER BY triggered_at",
        params,
    )
    for trigger in triggers:  # the event's merge tags, as %EVENT:…% would print them
        merge = json.loads(trigger["personalization"])
        trigger["merge_tags"] = {k: v for k, v in merge.items() if k.startswith("EVENT:")}
    _show("tag changes (topic <prefix>.tags)", tags, ["contact_email", "tag", "change", "rule_id"])
    _show(
        "segment transitions (topic <prefix>.segments)",
        transitions,
        ["contact_email", "segment_id", "transition", "cause"],
    )
    _show(
        "workflow triggers (topic <prefix>.workflows)",
        triggers,
        ["contact_email", "workflow_id", "merge_tags"],
        cut=90,
    )
    members = client.get("/v1/segments/abandoned-cart/members", params={"count": 3}).json()
    print(f"\nabandoned-cart has {members['total_items']} members (GET /v1/segments/…/members)")
