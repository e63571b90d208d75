"""Automation figures: the worker's events/s with 20 active rules over 100k contacts, beside
the plain confluent-kafka loop; the rules and the event mix the latency and kill phases use."""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import httpx

from bench import loadgen
from bench.anchors.runner import Anchors
from bench.deployment import Deployment
from bench.report import Row, Target
from bench.worker import through_worker

MUG = [{"property": "sku", "op": "contains", "value": "MUG"}]
# 20 rules of one account: 7 tag rules, 7 segments, 6 workflows (one is the latency probe).
RULES: dict[str, dict[str, Any]] = {
    "t-mugs": {"kind": "tag", "when": {"name": "viewed_product", "where": MUG},
               "add": ["mug-enthusiast"]},
    "t-hats": {"kind": "tag", "when": {"name": "viewed_product", "where": [
        {"property": "sku", "op": "contains", "value": "HAT"}]}, "add": ["hat-fan"]},
    "t-buyers": {"kind": "tag", "when": {"name": "purchase"}, "add": ["customer"],
                 "remove": ["cart-open"]},
    "t-carts": {"kind": "tag", "when": {"name": "cart"}, "add": ["cart-open"]},
    "t-referrers": {"kind": "tag", "when": {"name": "registered_referral"}, "add": ["referrer"]},
    "t-big-order": {"kind": "tag", "when": {"name": "purchase", "where": [
        {"property": "total", "op": "gte", "value": 50}]}, "add": ["big-order"]},
    "t-downloads": {"kind": "tag", "when": {"name": "file download request"},
                    "add": ["downloader"]},
    "s-referrers": {"kind": "segment", "condition": {"kind": "did",
                                                     "name": "registered_referral"}},
    "s-mugs": {"kind": "segment", "condition": {"kind": "did", "name": "viewed_product",
                                                "where": MUG}},
    "s-active-7d": {"kind": "segment", "condition": {"kind": "did", "name": "login",
                                                     "within_days": 7}},
    "s-lapsed-14d": {"kind": "segment", "condition": {"kind": "all", "conditions": [
        {"kind": "did", "name": "login"},
        {"kind": "did_not", "name": "login", "within_days": 14}]}},
    "s-abandoned-cart": {"kind": "segment", "condition": {
        "kind": "then_not", "first": "cart", "then": "purchase", "within_s": 7200}},
    "s-big-spenders": {"kind": "segment", "condition": {
        "kind": "value_sum", "name": "purchase", "within_days": 30, "op": "gte", "amount": 100}},
    "s-regulars": {"kind": "segment", "condition": {
        "kind": "did", "name": "purchase", "within_days": 30, "min_count": 3}},
    "w-referral": {"kind": "workflow", "workflow_id": "referral-discount",
                   "when": {"name": "registered_referral"}, "once_per_contact": True},
    "w-file": {"kind": "workflow", "workflow_id": "send-file",
               "when": {"name": "file download request"}},
    "w-welcome-back": {"kind": "workflow", "workflow_id": "welcome-back",
                       "when": {"name": "login"}, "at_most_every_s": 86400},
    "w-thanks": {"kind": "workflow", "workflow_id": "thanks", "when": {"name": "purchase"}},
    "w-mug-offer": {"kind": "workflow", "workflow_id": "mug-offer",
                    "when": {"name": "viewed_product"},
                    "contact": {"kind": "tag", "tag": "mug-enthusiast"},
                    "at_most_every_s": 604800},
    "w-probe": {"kind": "workflow", "workflow_id": "probe", "when": {"name": "latency_probe"}},
}  # fmt: skip
NAMES = ["viewed_product", "purchase", "login", "cart", "registered_referral",
         "file download request"]  # fmt: skip


def put_rules(url: str) -> int:
    with httpx.Client(base_url=url, timeout=30) as client:
        for rule_id, definition in RULES.items():
            client.put(f"/v1/rules/{rule_id}", json=definition).raise_for_status()
    return len(RULES)


# Workflows that trigger on every event of their name, whatever the contact's state: the
# kill phase's qualifying events.
UNCONDITIONAL = {"thanks": "purchase", "send-file": "file download request"}


def event(i: int, run: str, contacts: int | None = None) -> dict[str, Any]:
    """Event i of the mix: the contact is i's own (contacts=None: each event a new contact)
    or one of ``contacts`` drawn at random; the same i gives the same event."""
    rng = random.Random(i)
    contact = i if contacts is None else rng.randrange(contacts)
    name = rng.choice(NAMES)
    body: dict[str, Any] = {"email": f"c{contact}.{run}@example.com", "name": name}
    if name == "viewed_product":
        body["properties"] = {"sku": rng.choice(["MUG-1", "MUG-2", "HAT-1", "TEE-1"])}
    elif name == "purchase":
        total = rng.choice([10, 25, 60, 120])
        body["properties"], body["value"] = {"total": total}, float(total)
    elif name == "file download request":
        body["properties"] = {"eventdata": "https://example.com/f.pdf"}
    return body


def bulk(i: int, run: str, size: int, contacts: int | None = None) -> list[dict[str, Any]]:
    return [event(i * size + j, run, contacts) for j in range(size)]


def rules_worker(
    dep: Deployment,
    anchors: Anchors,
    contacts: int,
    events: int,
    processes: int,
    run: str,
    time_new: bool = True,
) -> list[Row]:
    """20 rules; first one event for each of ``contacts`` new contacts (timed when
    ``time_new``), then ``events`` more spread over them (the steady state: every contact
    has history, tags and segments)."""
    rules = put_rules(dep.url)
    size = 500
    posts = max(1, contacts // size)
    rows = []
    create = partial(bulk, run=run, size=size)
    if time_new:
        created = through_worker(dep, create, posts, size, processes)
        print(
            f"worker, {rules} rules     : {created:8.0f} events/s ({posts * size} events, each "
            f"the first of a new contact)",
            flush=True,
        )
        rows.append(Row(f"worker, {rules} rules, new contacts", created, "events/s"))
    else:  # the contacts only need to exist: the worker creates them as they come
        loadgen.throughput(loadgen.Target(dep.url), create, posts, 8, processes)
    loop = anchors.plain_loop()
    posts = max(1, events // size)
    # indices past the first pass's: new draws over the same contacts
    make_bulk = partial(
        _offset_bulk, run=run, size=size, contacts=contacts, offset=contacts // size + 1
    )
    steady = through_worker(dep, make_bulk, posts, size, processes)
    print(
        f"worker, {rules} rules     : {steady:8.0f} events/s ({posts * size} events over "
        f"{contacts} contacts with history, tags and segments); anchor: plain loop {loop:.0f}/s",
        flush=True,
    )
    return [
        *rows,
        Row(f"worker, {rules} rules, {contacts:,} contacts with state", steady, "events/s", loop,
            "plain loop", Target(at_least=5000, min_ratio=0.25)),
    ]  # fmt: skip


def _offset_bulk(i: int, run: str, size: int, contacts: int, offset: int) -> list[dict[str, Any]]:
    return bulk(i + offset, run, size, contacts)
