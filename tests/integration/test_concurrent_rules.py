"""Rules written at once through two gateway processes on the real broker: each write is
applied once and in order, every answer's version and content is what the rules topic stores
for that version, versions are distinct and follow the log, a POSTed rule is created once,
and reads on either gateway, and a fresh reader of the topic, show the last write (issue 10)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import Any

import httpx
from confluent_kafka import Consumer, TopicPartition

from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.processes.pipeline import Pipeline
from eventline.schemas.codec import codec
from eventline.schemas.rules.catalog import RuleCatalog, rule_view
from tests.integration.test_concurrent_settings import _all, second_gateway

__all__ = ["second_gateway"]  # the fixture: a second gateway process on the same topics

N = 50  # concurrent PUTs of one rule
DELETES = 10  # concurrent DELETEs of it, among the PUTs
POSTED, POSTS = 5, 10  # rule ids created at once, and POSTs of each


def _tag(name: str) -> dict[str, Any]:
    return {"kind": "tag", "when": {"name": "viewed_product"}, "add": [name]}


def _changes(settings: Settings, account: str, rule_id: str) -> list[dict[str, Any]]:
    """The rule's changes on the rules topic, in log order (a rule's records are on one
    partition); none is compacted away yet (min.compaction.lag.ms)."""
    topic = Topics(settings.topic_prefix).rules
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap(), "group.id": "t-" + uuid.uuid4().hex}
    )
    prefix = f"change/{account}/{rule_id}/"
    try:
        found = []
        for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
            tp = TopicPartition(topic, partition, 0)
            end = consumer.get_watermark_offsets(tp, timeout=10)[1]
            consumer.assign([tp])
            position = 0
            while position < end:
                for msg in consumer.consume(500, 1.0):
                    position = msg.offset() + 1
                    key = (msg.key() or b"").decode()
                    if msg.error() is None and msg.value() and key.startswith(prefix):
                        found.append(codec().decode("RuleChange", msg.value()))
        return found
    finally:
        consumer.close()


def _expected(changes: list[dict[str, Any]]) -> tuple[dict[str, tuple[int, bool]], list[int]]:
    """What the log says each write did, by the rule API's own definition of versions (1
    when created, +1 per change or deletion; a deletion of no rule changes nothing): put
    content -> (version, created), and the versions of the deletions that applied."""
    live, version, puts, deletes = False, 0, {}, []
    for change in changes:
        if change["op"] == "put":
            version += 1
            puts[json.loads(change["definition_json"])["add"][0]] = (version, not live)
            live = True
        elif change["op"] == "delete" and live:
            version += 1
            deletes.append(version)
            live = False
    return puts, deletes


def test_rule_writes_at_once_through_two_gateways_answer_what_is_stored(
    pipeline: Pipeline, settings: Settings, second_gateway: str
) -> None:
    assert pipeline.gateway is not None
    gateways = [pipeline.gateway.url, second_gateway]
    account = f"rules-{uuid.uuid4().hex[:8]}"
    headers = {"X-Eventline-Account": account}

    writes: list[tuple[str, str, str, dict[str, Any]]] = []
    for i in range(N):
        body = {"json": _tag(f"p{i}"), "headers": headers}
        writes.append(("PUT", gateways[i % 2], "/v1/rules/target", body))
        if i % (N // DELETES) == N // DELETES - 1:
            writes.append(
                ("DELETE", gateways[(i + 1) % 2], "/v1/rules/target", {"headers": headers})
            )
    for k in range(POSTED):
        for i in range(POSTS):
            body = {"json": {**_tag(f"c{k}-{i}"), "rule_id": f"posted-{k}"}, "headers": headers}
            writes.append(("POST", gateways[(k + i) % 2], "/v1/rules", body))
    answers = list(zip(writes, asyncio.run(_all(writes)), strict=True))
    puts = [a for (m, *_), a in answers if m == "PUT"]
    deletes = [a for (m, *_), a in answers if m == "DELETE"]
    posts = [(w[3]["json"], a) for w, a in answers if w[0] == "POST"]

    # Every problem is listed, so a failure shows each kind of write that went wrong.
    problems: list[str] = []

    def check(ok: bool, what: str, detail: Any = "") -> None:
        if not ok:
            problems.append(f"{what}: {detail}"[:600])

    codes = Counter((m, a.status_code) for (m, *_), a in answers)
    check(
        set(codes)
        <= {
            ("PUT", 200),
            ("PUT", 201),
            ("DELETE", 200),
            ("DELETE", 404),
            ("POST", 201),
            ("POST", 409),
        },
        "unexpected statuses",
        codes,
    )
    for k in range(POSTED):
        mine = [a for body, a in posts if body["rule_id"] == f"posted-{k}"]
        created = [a for a in mine if a.status_code == 201]
        check(
            len(created) == 1, f"posted-{k} created {len(created)} times", [a.text for a in created]
        )
        refused = [a for a in mine if a.status_code == 409]
        check(len(refused) == POSTS - 1, f"posted-{k}: {len(refused)} answered 409")
        for gw in gateways:
            shown = httpx.get(f"{gw}/v1/rules/posted-{k}", headers=headers).json()
            check(
                [shown] == [a.json() for a in created],
                f"{gw}: posted-{k} shows otherwise than answered",
                (shown, [a.json() for a in created]),
            )

    answered = [a.json()["version"] for a in puts + deletes if a.status_code in (200, 201)]
    repeated = {v: n for v, n in Counter(answered).items() if n > 1}
    check(not repeated, "versions answered to several writes", repeated)
    expected_puts, expected_deletes = _expected(_changes(settings, account, "target"))
    check(len(expected_puts) == N, f"{len(expected_puts)} puts on the topic, {N} sent")
    for answer in puts:
        view = answer.json()
        written = (view["version"], answer.status_code == 201)
        stored = expected_puts.get(view["add"][0])
        check(written == stored, f"PUT {view['add']} answered {written}, the log says", stored)
    deleted = sorted(a.json()["version"] for a in deletes if a.status_code == 200)
    check(deleted == expected_deletes, "deletions answered otherwise than the log", deleted)
    final = max([v for v, _ in expected_puts.values()] + expected_deletes, default=0)
    check(sorted(answered) == list(range(1, final + 1)), "versions answered are not 1..n", answered)

    last = max(puts, key=lambda a: a.json()["version"] if a.is_success else 0).json()
    fresh = RuleCatalog(settings)  # reads the topic from its start, as a new process does
    fresh.start()
    try:
        for gw in gateways:
            shown = httpx.get(f"{gw}/v1/rules/target", headers=headers)
            if final in expected_deletes:
                check(shown.status_code == 404, f"{gw}: the deleted rule shows", shown.text)
            else:
                check(shown.json() == last, f"{gw}: the rule shows otherwise", (shown.text, last))
        listed = httpx.get(f"{gateways[1]}/v1/rules", headers=headers).json()["rules"]
        check(
            [r["rule_id"] for r in listed]
            == sorted(
                [f"posted-{k}" for k in range(POSTED)]
                + ["target"] * (final not in expected_deletes)
            ),
            "the rules listed",
            listed,
        )
        check(
            [rule_view(e) for e in fresh.entries(account)] == listed,
            "a fresh reader of the topic reads other rules",
        )
    finally:
        fresh.stop()
    assert not problems, "\n".join(problems)
