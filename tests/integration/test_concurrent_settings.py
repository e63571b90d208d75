"""Account settings changed at once through two gateway processes on the real broker: every
change is applied once and in order, ids are allocated once, and every answer matches what a
read returns afterwards, on either gateway (issue 10)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, TopicPartition

from eventline.core.settings import Settings, settings_env
from eventline.core.topics import Topics
from eventline.processes.pipeline import Pipeline
from eventline.schemas.codec import codec
from tests.integration.helpers import eventually
from tests.integration.processes import free_port

N = 50  # concurrent changes of each kind
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def second_gateway(pipeline: Pipeline, settings: Settings) -> Iterator[str]:
    """Another gateway process (``eventline gateway``) on the same broker and topics; it has
    no ClickHouse of its own when the pipeline's is embedded, which writes do not need."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EVENTLINE_")},
        **settings_env(settings),
        "EVENTLINE_GATEWAY_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    log_path = settings.home.resolve() / f"gateway-{port}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from eventline.cli import app; app()", "gateway"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"the second gateway exited; see {log_path}")
        try:
            return httpx.get(f"{url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        eventually(healthy, what=f"the second gateway on {url}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _account(http: httpx.Client, second: str) -> tuple[str, int, str]:
    """A new account and key, known to both gateways."""
    account_id = f"conc-{uuid.uuid4().hex[:8]}"
    number = http.post("/v1/accounts", json={"account_id": account_id}).json()["number"]
    key = http.post(f"/v1/accounts/{account_id}/keys").json()["key"]
    eventually(
        lambda: httpx.get(f"{second}/api/3/eventTracking", headers={"Api-Token": key}).is_success,
        what="the new key known to the second gateway",
    )
    return account_id, number, key


async def _all(requests: list[tuple[str, str, str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send every (method, base url, path, httpx keywords) at once."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return list(
            await asyncio.gather(
                *(client.request(m, f"{base}{path}", **kw) for m, base, path, kw in requests)
            )
        )


def _changes(settings: Settings, account_id: str, op: str) -> list[dict[str, Any]]:
    """The account's changes of kind ``op`` on the accounts topic, in log order (one account's
    changes are on one partition)."""
    topic = Topics(settings.topic_prefix).accounts
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap(), "group.id": "t-" + uuid.uuid4().hex}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        found = []
        for partition in partitions:
            tp = TopicPartition(topic, partition, 0)
            end = consumer.get_watermark_offsets(tp, timeout=10)[1]
            consumer.assign([tp])
            position = 0
            while position < end:
                for msg in consumer.consume(500, 1.0):
                    position = msg.offset() + 1
                    key = (msg.key() or b"").decode()
                    if (
                        msg.error() is None
                        and msg.value()
                        and key.startswith(f"change/{account_id}/")
                    ):
                        change = codec().decode("AccountChange", msg.value())
                        if change["op"] == op:
                            found.append({**change, "args": json.loads(change["args_json"])})
        return found
    finally:
        consumer.close()


def test_fifty_changes_of_each_kind_at_once_through_two_gateways(
    pipeline: Pipeline, settings: Settings, http: httpx.Client, second_gateway: str
) -> None:
    assert pipeline.gateway is not None
    gateways = [pipeline.gateway.url, second_gateway]
    account_id, number, key = _account(http, second_gateway)
    api = {"Api-Token": key}
    basic = {"Authorization": "Basic " + base64.b64encode(f"public:{key}".encode()).decode()}
    emma = f"/{number}/events"

    # What the burst changes: names to remove, types to rename and to delete.
    for i in range(N):
        body = {"eventTrackingEvent": {"name": f"gone {i}"}}
        assert http.post("/api/3/eventTrackingEvents", json=body, headers=api).status_code == 201
    renamed, doomed = {}, {}
    for i in range(N):
        body = {"event_type": f"old_{i}", "display_name": f"Old {i}"}
        renamed[http.post(emma, json=body, headers=basic).json()["event_type_id"]] = i
        body = {"event_type": f"doomed_{i}", "display_name": f"Doomed {i}"}
        doomed[http.post(emma, json=body, headers=basic).json()["event_type_id"]] = i
    assert len(renamed) == len(doomed) == N

    burst: list[tuple[str, str, str, dict[str, Any]]] = []
    for i in range(N):
        gw = gateways[i % 2]
        add = {"eventTrackingEvent": {"name": f"added {i}"}}
        switch = {"eventTracking": {"enabled": i % 2 == 0}}
        created = {"event_type": f"new_{i}", "display_name": f"New {i}"}
        rename = {"event_type": f"renamed_{i}", "display_name": f"Renamed {i}"}
        old_id = next(t for t, j in renamed.items() if j == i)
        doomed_id = next(t for t, j in doomed.items() if j == i)
        burst += [
            ("POST", gw, "/api/3/eventTrackingEvents", {"json": add, "headers": api}),
            ("DELETE", gw, f"/api/3/eventTrackingEvents/gone%20{i}", {"headers": api}),
            ("POST", gw, "/api/3/eventTracking", {"json": switch, "headers": api}),
            ("POST", gw, emma, {"json": created, "headers": basic}),
            ("PUT", gw, f"{emma}/{old_id}", {"json": rename, "headers": basic}),
            # Deleting erases events from ClickHouse, which only the first gateway has here.
            ("DELETE", gateways[0], f"{emma}/{doomed_id}", {"headers": basic}),
            ("POST", gw, f"/v1/accounts/{account_id}/enable", {}),
        ]
    duplicate = {"event_type": "twice", "display_name": "Twice"}
    burst += [
        ("POST", gateways[i % 2], emma, {"json": duplicate, "headers": basic}) for i in range(N)
    ]
    answers = asyncio.run(_all(burst))
    by_kind = [answers[k : 7 * N : 7] for k in range(7)]
    adds, removes, switches, creates, renames, deletes, enables = by_kind
    twice = answers[7 * N :]

    # Every problem is listed, so a failure shows each kind of change that went wrong.
    problems: list[str] = []

    def check(ok: bool, what: str, detail: Any = "") -> None:
        if not ok:
            problems.append(f"{what}: {detail}"[:600])

    def statuses(kind: list[httpx.Response], want: int, what: str) -> None:
        wrong = [a.text for a in kind if a.status_code != want]
        check(not wrong, f"{len(wrong)} {what} not answered {want}", wrong[:3])

    statuses(adds, 201, "whitelist adds")
    check(
        [a.json() for a in adds]
        == [{"eventTrackingEvent": {"name": f"added {i}"}} for i in range(N)],
        "whitelist adds answered other names",
    )
    statuses(removes, 200, "whitelist removals")
    check(
        [a.json() for a in switches]
        == [{"eventTracking": {"enabled": i % 2 == 0}} for i in range(N)],
        "tracking switches answered another value",
    )
    statuses(creates, 200, "type creations")
    statuses(renames, 200, "type renames")
    statuses(deletes, 200, "type deletions")
    statuses(enables, 200, "account enables")
    twice_codes = Counter(a.status_code for a in twice)
    check(twice_codes == {200: 1, 400: N - 1}, "one name created at once", twice_codes)
    check(
        all("already exists" in a.json()["error"] for a in twice if a.status_code == 400),
        "a refused creation does not say the type exists",
    )

    created_ids = Counter(a.json().get("event_type_id") for a in creates + twice if a.is_success)
    repeated = {i: n for i, n in created_ids.items() if n > 1}
    check(not repeated, "ids answered for several types", repeated)
    reused = set(created_ids) & (set(renamed) | set(doomed))
    check(not reused, "ids of existing or deleted types answered again", reused)
    expected = {
        a.json()["event_type_id"]: a.json() for a in creates + renames + twice if a.is_success
    }
    for gw in gateways:
        whitelist = httpx.get(f"{gw}/api/3/eventTrackingEvents", headers=api).json()
        names = sorted(n["name"] for n in whitelist["eventTrackingEvents"])
        missing = sorted({f"added {i}" for i in range(N)} - set(names))
        check(not missing, f"{gw}: whitelisted names missing", missing)
        check(not set(names) - {f"added {i}" for i in range(N)}, f"{gw}: removed names", names)
        listed = {t["event_type_id"]: t for t in httpx.get(f"{gw}{emma}", headers=basic).json()}
        wrong = {i: (listed.get(i), t) for i, t in expected.items() if listed.get(i) != t}
        check(not wrong, f"{gw}: types listed otherwise than answered", wrong)
        check(len(listed) == len(expected), f"{gw}: {len(listed)} types, {len(expected)} answered")
        left = [i for i in doomed if httpx.get(f"{gw}{emma}/{i}", headers=basic).status_code != 404]
        check(not left, f"{gw}: deleted types still there", left)
    assert not problems, "\n".join(problems)

    # The switch reads as the change last in the log left it, on both gateways.
    changes = _changes(settings, account_id, "set_tracking")
    assert len(changes) == N
    for gw in gateways:
        read = httpx.get(f"{gw}/api/3/eventTracking", headers=api).json()
        assert read == {"eventTracking": {"enabled": changes[-1]["args"]["enabled"]}}


def test_accounts_created_and_switched_at_once_through_two_gateways(
    pipeline: Pipeline, settings: Settings, http: httpx.Client, second_gateway: str
) -> None:
    assert pipeline.gateway is not None
    gateways = [pipeline.gateway.url, second_gateway]
    run = uuid.uuid4().hex[:6]
    ids = [f"new-{run}-{i}" for i in range(N // 5)]  # each created five times at once
    creations = [
        ("POST", gateways[i % 2], "/v1/accounts", {"json": {"account_id": ids[i // 5]}})
        for i in range(N)
    ]
    toggled, _, _ = _account(http, second_gateway)
    toggles = [
        ("POST", gateways[i % 2], f"/v1/accounts/{toggled}/{'enable' if i % 2 else 'disable'}", {})
        for i in range(N)
    ]
    answers = asyncio.run(_all(creations + toggles))
    created, switched = answers[:N], answers[N:]

    per_id = Counter(a.json()["account_id"] for a in created if a.status_code == 201)
    assert per_id == dict.fromkeys(ids, 1)
    assert Counter(a.status_code for a in created) == {201: len(ids), 409: N - len(ids)}
    numbers = {a.json()["account_id"]: a.json()["number"] for a in created if a.status_code == 201}
    assert len(set(numbers.values())) == len(ids)
    for gw in gateways:
        for account_id, number in numbers.items():
            assert httpx.get(f"{gw}/v1/accounts/{account_id}").json()["number"] == number

    assert [a.json()["enabled"] for a in switched] == [i % 2 == 1 for i in range(N)]
    last = _changes(settings, toggled, "set_enabled")[-1]
    for gw in gateways:
        assert httpx.get(f"{gw}/v1/accounts/{toggled}").json()["enabled"] is last["args"]["enabled"]
