"""Tags, segments and workflow triggers end to end: rules through the API, events through HTTP,
messages read from the real output topics and ClickHouse, time moved by the deployment's
adjustable clock (never by sleeping)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from eventline.core.settings import Settings
from eventline.schemas.clock_topic import advance
from eventline.sinks.store import Store
from tests.integration.helpers import (
    automation_messages,
    eventually,
    put_rule,
    register,
    send_event,
    unique_email,
    wait_status,
)


def _account() -> str:
    return f"auto-{uuid.uuid4().hex[:8]}"


def _tags(settings: Settings, account: str, **wait: Any) -> list[dict[str, Any]]:
    return automation_messages(settings, "tags", account, **wait)


def _transitions(settings: Settings, account: str, **wait: Any) -> list[dict[str, Any]]:
    return automation_messages(settings, "segments", account, **wait)


def _triggers(settings: Settings, account: str, **wait: Any) -> list[dict[str, Any]]:
    return automation_messages(settings, "workflows", account, **wait)


def _ago(delta: timedelta) -> str:
    """An occurred_at ``delta`` before the deployment's now."""
    from eventline.core.clock import now

    return (now() - delta).isoformat()


def test_a_tag_rule_tags_matching_contacts_once_and_updates_the_contact(
    http: httpx.Client, settings: Settings, store: Store
) -> None:
    account = _account()
    put_rule(
        http,
        account,
        "mug-viewers",
        kind="tag",
        when={
            "name": "viewed_product",
            "where": [{"property": "category", "op": "equals", "value": "mugs"}],
        },
        add=["mug-enthusiast"],
    )
    put_rule(
        http, account, "buyers", kind="tag", when={"event_type": "purchase"},
        add=["customer"], remove=["cart-open"],
    )  # fmt: skip
    email = unique_email("mugs")
    viewed = {"name": "viewed_product", "properties": {"category": "mugs"}}
    first = send_event(http, account, email=email, **viewed)
    send_event(http, account, email=email, **viewed)  # already tagged: no second change
    send_event(http, account, email=email, name="viewed_product", properties={"category": "hats"})
    last = send_event(http, account, email=email, name="order", event_type="purchase")
    wait_status(http, last, account=account)

    changes = _tags(settings, account, expect=2)
    assert [(c["tag"], c["change"], c["rule_id"]) for c in changes] == [
        ("mug-enthusiast", "added", "mug-viewers"),
        ("customer", "added", "buyers"),
    ]
    assert changes[0]["event_id"] == first and changes[0]["contact_email"] == email
    assert changes[1]["contact_tags"] == ["mug-enthusiast", "customer"]

    def contact_tags() -> list[str] | None:
        found = http.get(
            "/v1/contacts", params={"email": email}, headers={"X-Eventline-Account": account}
        ).json()["contacts"]
        return found[0]["tags"] if found and len(found[0]["tags"]) == 2 else None

    assert eventually(contact_tags, what="tags on the contact") == ["mug-enthusiast", "customer"]
    rows = eventually(
        lambda: (
            store.query(
                "SELECT tag, change FROM {db}.tag_changes FINAL WHERE account_id = {a:String} "
                "ORDER BY changed_at, tag",
                {"a": account},
            )
            or None
        ),
        what="tag changes in ClickHouse",
    )
    assert {(r["tag"], r["change"]) for r in rows} == {
        ("mug-enthusiast", "added"),
        ("customer", "added"),
    }


def test_the_referrers_segment_enters_once_and_lists_its_members(
    http: httpx.Client, settings: Settings, store: Store
) -> None:
    account = _account()
    put_rule(
        http, account, "referrers", kind="segment", name="Referrers",
        condition={"kind": "did", "name": "registered_referral"},
    )  # fmt: skip
    referrer, other = unique_email("referrer"), unique_email("other")
    for _ in range(2):
        send_event(http, account, email=referrer, name="registered_referral")
    wait_status(http, send_event(http, account, email=other, name="login"), account=account)

    (entered,) = _transitions(settings, account)
    assert entered["segment_id"] == "referrers" and entered["transition"] == "entered"
    assert entered["cause"] == "event" and entered["seq"] == 1
    assert entered["contact_email"] == referrer

    headers = {"X-Eventline-Account": account}

    def members() -> dict[str, Any] | None:
        body = http.get("/v1/segments/referrers/members", headers=headers).json()
        return body if body.get("total_items") == 1 else None

    listed = eventually(members, what="the segment's members")
    assert listed["members"][0]["email"] == referrer
    segments = http.get("/v1/segments", headers=headers).json()["segments"]
    assert [(s["rule_id"], s["members"]) for s in segments] == [("referrers", 1)]
    assert http.get("/v1/segments/nothing/members", headers=headers).status_code == 404


def test_segments_on_properties_counts_in_a_window_and_spend(
    http: httpx.Client, settings: Settings
) -> None:
    account = _account()
    put_rule(
        http, account, "mug-enthusiasts", kind="segment",
        condition={"kind": "did", "name": "viewed_product",
                   "where": [{"property": "sku", "op": "contains", "value": "MUG"}]},
    )  # fmt: skip
    put_rule(
        http, account, "regulars", kind="segment",
        condition={"kind": "did", "name": "purchase", "within_days": 30, "min_count": 2},
    )  # fmt: skip
    put_rule(
        http, account, "big-spenders", kind="segment",
        condition={"kind": "value_sum", "name": "purchase", "within_days": 30,
                   "op": "gte", "amount": 100},
    )  # fmt: skip
    put_rule(
        http, account, "june-buyers", kind="segment",
        condition={"kind": "did", "name": "purchase", "since": "2026-06-01T00:00:00Z",
                   "until": "2026-06-30T23:59:59Z"},
    )  # fmt: skip
    put_rule(http, account, "mug-tag", kind="tag",
             when={"name": "viewed_product", "where": [
                 {"property": "sku", "op": "contains", "value": "MUG"}]},
             add=["mugs"])  # fmt: skip
    put_rule(
        http, account, "tagged-mugs", kind="segment",
        condition={"kind": "tag", "tag": "mugs"},
    )  # fmt: skip
    put_rule(
        http, account, "pro-or-vip", kind="segment",
        condition={"kind": "any", "conditions": [
            {"kind": "attribute", "test": {"property": "plan", "op": "equals", "value": "pro"}},
            {"kind": "all", "conditions": [{"kind": "tag", "tag": "vip"}]}]},
    )  # fmt: skip
    email = unique_email("shopper")
    send_event(http, account, email=email, name="viewed_product", properties={"sku": "HAT-1"})
    send_event(http, account, email=email, name="purchase", value=60)
    send_event(http, account, email=email, name="viewed_product", properties={"sku": "MUG-2"})
    send_event(http, account, email=email, name="purchase", value=45.5)
    register(http, account, email, attributes={"plan": "pro"})
    # a purchase dated in June 2026 (a backfill: history only), between the segment's dates
    june = unique_email("june")
    send_event(
        http, account, email=june, name="purchase", occurred_at="2026-06-15T12:00:00Z",
        is_syncing=True,
    )  # fmt: skip

    transitions = _transitions(settings, account, expect=6)
    assert [
        (t["segment_id"], t["transition"]) for t in transitions if t["contact_email"] == email
    ] == [
        ("mug-enthusiasts", "entered"),
        ("tagged-mugs", "entered"),
        ("big-spenders", "entered"),
        ("regulars", "entered"),
        ("pro-or-vip", "entered"),
    ]
    assert [t["segment_id"] for t in transitions if t["contact_email"] == june] == ["june-buyers"]
    (pro,) = [t for t in transitions if t["segment_id"] == "pro-or-vip"]
    assert pro["cause"] == "event"  # the registration that set the attribute


def test_inactivity_and_windows_pass_with_time(http: httpx.Client, settings: Settings) -> None:
    account = _account()
    put_rule(
        http, account, "active-7d", kind="segment",
        condition={"kind": "did", "name": "login", "within_days": 7},
    )  # fmt: skip
    put_rule(
        http, account, "lapsed-14d", kind="segment", name="Re-engagement",
        condition={"kind": "all", "conditions": [
            {"kind": "did", "name": "login"},
            {"kind": "did_not", "name": "login", "within_days": 14}]},
    )  # fmt: skip
    email = unique_email("lapsing")
    wait_status(http, send_event(http, account, email=email, name="login"), account=account)
    (entered,) = _transitions(settings, account)
    assert (entered["segment_id"], entered["transition"]) == ("active-7d", "entered")

    advance(settings, timedelta(days=8))  # day 8: no longer active, nothing happened
    exited = _transitions(settings, account, expect=2)[-1]
    assert (exited["segment_id"], exited["transition"], exited["cause"]) == (
        "active-7d",
        "exited",
        "time",
    )
    assert exited["event_id"] is None and exited["seq"] == 2

    advance(settings, timedelta(days=7))  # day 15: away for two weeks
    lapsed = _transitions(settings, account, expect=3)[-1]
    assert (lapsed["segment_id"], lapsed["transition"], lapsed["cause"]) == (
        "lapsed-14d",
        "entered",
        "time",
    )
    # coming back leaves the re-engagement segment and enters the active one, at once
    wait_status(http, send_event(http, account, email=email, name="login"), account=account)
    back = _transitions(settings, account, expect=5)[-2:]
    assert {(t["segment_id"], t["transition"], t["cause"]) for t in back} == {
        ("active-7d", "entered", "event"),
        ("lapsed-14d", "exited", "event"),
    }


def test_abandoned_cart_enters_after_two_hours_without_a_purchase(
    http: httpx.Client, settings: Settings
) -> None:
    account = _account()
    put_rule(
        http, account, "abandoned-cart", kind="segment",
        condition={"kind": "then_not", "first": "cart", "then": "purchase", "within_s": 7200},
    )  # fmt: skip
    put_rule(
        http, account, "cart-reminder", kind="workflow", workflow_id="remind-cart",
        when={"name": "cart"},
        contact={"kind": "segment", "segment_id": "abandoned-cart", "member": False},
    )  # fmt: skip
    forgetful, buyer = unique_email("forgetful"), unique_email("buyer")
    send_event(http, account, email=forgetful, name="cart", properties={"sku": "MUG-1"})
    send_event(http, account, email=buyer, name="cart")
    last = send_event(http, account, email=buyer, name="purchase")
    wait_status(http, last, account=account)
    assert _transitions(settings, account, expect=0) == []
    # the workflow's contact condition: not (yet) in the abandoned-cart segment
    reminders = _triggers(settings, account, expect=2)
    assert sorted(t["contact_email"] for t in reminders) == sorted([forgetful, buyer])

    advance(settings, timedelta(hours=2, minutes=1))
    (abandoned,) = _transitions(settings, account, settle_s=2.0)
    assert abandoned["contact_email"] == forgetful and abandoned["cause"] == "time"
    # a purchase afterwards takes the contact out of the segment
    wait_status(http, send_event(http, account, email=forgetful, name="purchase"), account=account)
    left = _transitions(settings, account, expect=2)[-1]
    assert (left["transition"], left["cause"]) == ("exited", "event")
    # in the segment when the cart event comes: the condition refuses the trigger
    put_rule(http, account, "cart-reminder", kind="workflow", workflow_id="remind-cart",
             when={"name": "cart"},
             contact={"kind": "segment", "segment_id": "abandoned-cart"})  # fmt: skip
    wait_status(http, send_event(http, account, email=buyer, name="cart"), account=account)
    assert len(_triggers(settings, account, expect=2, settle_s=2.0)) == 2


def test_the_referral_discount_fires_once_per_contact_with_what_the_email_needs(
    http: httpx.Client, settings: Settings, store: Store
) -> None:
    account = _account()
    put_rule(
        http, account, "referrers-tag", kind="tag", when={"name": "registered_referral"},
        add=["referrer"],
    )  # fmt: skip
    put_rule(
        http, account, "referral-discount", kind="workflow",
        workflow_id="referral-discount-email", once_per_contact=True,
        when={"name": "registered_referral",
              "where": [{"property": "referral_code", "op": "exists"}]},
    )  # fmt: skip
    # without a referral code: no discount
    send_event(http, account, email=unique_email("no-code"), name="registered_referral")
    email = unique_email("referrer")
    register(http, account, email, user_id="u-" + email, attributes={"first_name": "Ada"})
    code = {"name": "registered_referral", "properties": {"referral_code": "GAMER42"}}
    first = send_event(http, account, email=email, **code)
    send_event(http, account, email=email, **code)  # a second referral: once per contact
    send_event(http, account, email=email, is_syncing=True, **code)
    late = send_event(http, account, email=email, occurred_at=_ago(timedelta(days=3)), **code)
    wait_status(http, late, account=account)

    (trigger,) = _triggers(settings, account, settle_s=2.0)
    assert trigger["workflow_id"] == "referral-discount-email"
    assert trigger["event_id"] == first and trigger["event_name"] == "registered_referral"
    assert (trigger["contact_email"], trigger["contact_user_id"]) == (email, "u-" + email)
    assert json.loads(trigger["contact_attributes_json"]) == {"first_name": "Ada"}
    assert trigger["contact_tags"] == ["referrer"]
    assert json.loads(trigger["event_properties_json"]) == {"referral_code": "GAMER42"}
    merge = json.loads(trigger["personalization_json"])
    assert merge["EVENT:registered_referral.referral_code"] == "GAMER42"
    assert merge["CONTACT:first_name"] == "Ada"
    rows = eventually(
        lambda: (
            store.query(
                "SELECT trigger_id, workflow_id FROM {db}.workflow_triggers FINAL "
                "WHERE account_id = {a:String}",
                {"a": account},
            )
            or None
        ),
        what="the trigger in ClickHouse",
    )
    assert rows == [{"trigger_id": trigger["trigger_id"], "workflow_id": "referral-discount-email"}]


def test_resending_an_event_never_triggers_twice_and_periods_limit_repeats(
    http: httpx.Client, settings: Settings
) -> None:
    account = _account()
    put_rule(
        http, account, "welcome-back", kind="workflow", workflow_id="welcome-back",
        when={"name": "login"}, at_most_every_s=3600,
    )  # fmt: skip
    email = unique_email("resend")
    keyed = {"email": email, "name": "login", "idempotency_key": "login-" + email}
    first = send_event(http, account, **keyed)
    assert send_event(http, account, **keyed) == first  # the same event, resent
    send_event(http, account, email=email, name="login")  # a new login within the hour
    wait_status(http, first, account=account, receipts=2)
    assert len(_triggers(settings, account, settle_s=2.0)) == 1
    advance(settings, timedelta(hours=1, minutes=1))
    wait_status(http, send_event(http, account, email=email, name="login"), account=account)
    assert len(_triggers(settings, account, expect=2)) == 2


def test_tracking_off_and_activecampaign_whitelist(http: httpx.Client, settings: Settings) -> None:
    account = _account()
    assert http.post("/v1/accounts", json={"account_id": account}).status_code == 201
    key = http.post(f"/v1/accounts/{account}/keys").json()["key"]
    number = http.get(f"/v1/accounts/{account}").json()["number"]
    api = {"Api-Token": key}
    listed = {"eventTrackingEvent": {"name": "file download request"}}
    assert http.post("/api/3/eventTrackingEvents", json=listed, headers=api).is_success
    put_rule(
        http, account, "send-file", kind="workflow", workflow_id="send-file",
        when={"event_type": None, "name": "file download request"},
    )  # fmt: skip
    put_rule(http, account, "any-download", kind="workflow", workflow_id="w2",
             when={"name": "other download"})  # fmt: skip
    email = unique_email("downloader")
    register(http, account, email)

    def track(name: str) -> None:
        form = {
            "actid": str(number),
            "key": key,
            "event": name,
            "eventdata": "https://www.yoursite.com/downloads/file.pdf",
            "visit": json.dumps({"email": email}),
        }
        assert http.post("/event", data=form).json() == {"success": 1, "message": "Event spawned"}

    track("file download request")
    track("other download")  # not whitelisted: stored, never triggers
    (trigger,) = _triggers(settings, account, settle_s=2.0)
    merge = json.loads(trigger["personalization_json"])
    assert merge["EVENT:file download request"] == "https://www.yoursite.com/downloads/file.pdf"
    assert trigger["event_eventdata"] == "https://www.yoursite.com/downloads/file.pdf"

    off = {"eventTracking": {"enabled": False}}
    assert http.post("/api/3/eventTracking", json=off, headers=api).is_success
    # tracking off: the native API still records events, none triggers
    stored = send_event(http, account, email=email, name="file download request")
    body = wait_status(http, stored, account=account)
    assert body["status"] == "processed"
    assert len(_triggers(settings, account, settle_s=2.0)) == 1


def test_a_rule_change_applies_to_the_events_that_follow_it(
    http: httpx.Client, settings: Settings
) -> None:
    account = _account()
    email = unique_email("changes")
    put_rule(http, account, "w", kind="workflow", workflow_id="wf", when={"name": "a"})
    send_event(http, account, email=email, name="a")  # fires (version 1)
    put_rule(http, account, "w", kind="workflow", workflow_id="wf", when={"name": "b"})
    send_event(http, account, email=email, name="a")  # no longer matches
    send_event(http, account, email=email, name="b")  # fires (version 2)
    deleted = http.delete("/v1/rules/w", headers={"X-Eventline-Account": account})
    assert deleted.status_code == 200 and deleted.json()["version"] == 3
    last = send_event(http, account, email=email, name="b")  # no rule any more
    wait_status(http, last, account=account)
    assert [t["event_name"] for t in _triggers(settings, account, expect=2, settle_s=2.0)] == [
        "a",
        "b",
    ]
    rules = http.get("/v1/rules", headers={"X-Eventline-Account": account}).json()["rules"]
    assert rules == []


def test_a_changed_segment_definition_re_evaluates_its_members(
    http: httpx.Client, settings: Settings
) -> None:
    account = _account()
    email_a, email_b = unique_email("a"), unique_email("b")
    send_event(http, account, email=email_a, name="purchase", value=20)
    wait_status(
        http, send_event(http, account, email=email_b, name="purchase", value=200), account=account
    )
    # created after the purchases: both enter from the history they already have
    put_rule(
        http, account, "spenders", kind="segment",
        condition={"kind": "value_sum", "name": "purchase", "within_days": 30, "op": "gte",
                   "amount": 10},
    )  # fmt: skip
    entered = _transitions(settings, account, expect=2)
    assert {(t["contact_email"], t["cause"]) for t in entered} == {
        (email_a, "definition"),
        (email_b, "definition"),
    }
    put_rule(
        http, account, "spenders", kind="segment",
        condition={"kind": "value_sum", "name": "purchase", "within_days": 30, "op": "gte",
                   "amount": 100},
    )  # fmt: skip

    # The topic is ordered per contact (partition), not across them: look for the exits.
    def exits(expect: int) -> set[tuple[str, str]]:
        found = _transitions(settings, account, expect=expect)
        return {(t["contact_email"], t["cause"]) for t in found if t["transition"] == "exited"}

    assert exits(3) == {(email_a, "definition")}
    http.delete("/v1/rules/spenders", headers={"X-Eventline-Account": account})
    assert exits(4) == {(email_a, "definition"), (email_b, "definition")}


def test_invalid_rules_are_refused_with_the_field_and_reason(http: httpx.Client) -> None:
    headers = {"X-Eventline-Account": _account()}
    cases = [
        ({"kind": "dance"}, "kind"),
        ({"kind": "tag", "when": {"name": "x"}}, "add"),
        ({"kind": "segment", "condition": {"kind": "did", "name": "x", "within_days": 400}},
         "condition"),
        ({"kind": "workflow", "workflow_id": "w", "when": {"name": "x"},
          "at_most_every_s": -1}, "at_most_every_s"),
        ({"kind": "segment", "condition": {"kind": "segment", "segment_id": "other"}},
         "condition"),
    ]  # fmt: skip
    for definition, field in cases:
        answer = http.put("/v1/rules/bad", json=definition, headers=headers)
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["error"] == "invalid_rule"
        assert any(e["field"].startswith(field) for e in body["errors"]), body
    assert http.get("/v1/rules/bad", headers=headers).status_code == 404
    too_long = http.put("/v1/rules/" + "x" * 200, json=cases[1][0], headers=headers)
    assert too_long.status_code == 400


def test_occurred_at_defaults_follow_the_deployment_clock(http: httpx.Client) -> None:
    # guards the tests above: events without occurred_at get the (advanced) deployment time
    from eventline.core.clock import now

    account = _account()
    event_id = send_event(http, account, email=unique_email("clock"), name="tick")
    body = wait_status(http, event_id, account=account)
    received = datetime.fromisoformat(body["receipts"][0]["received_at"])
    assert abs(received - now()) < timedelta(minutes=5)
    assert received.tzinfo is not None and received.astimezone(UTC) == received


def test_the_example_consumer_sends_each_email_once(http: httpx.Client, settings: Settings) -> None:
    from examples.automation_consumer import run

    account = _account()
    put_rule(
        http, account, "send-file", kind="workflow", workflow_id="send-file",
        when={"name": "file download request"},
    )  # fmt: skip
    email = unique_email("example")
    link = {"eventdata": "https://www.yoursite.com/downloads/file.pdf"}
    last = send_event(http, account, email=email, name="file download request", properties=link)
    wait_status(http, last, account=account)
    _triggers(settings, account)
    actions: list[str] = []
    group = f"example-{uuid.uuid4().hex[:8]}"
    run(settings.bootstrap(), settings.topic_prefix, group, ["workflows"], actions.append, 3.0)
    mine = [a for a in actions if email in a]
    assert mine == [
        f"email to {email} [send-file]: Hello! Here is your file link: "
        "https://www.yoursite.com/downloads/file.pdf"
    ]
