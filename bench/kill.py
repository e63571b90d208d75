"""Kill phase: during a run of n events with the 20 rules active, SIGKILL the worker twice
(at a third and at two thirds of the run's canonical events) and restart it at once. Then:
acked vs stored events (``events FINAL``), distinct triggers of the unconditional workflows
vs the events that qualify for them, and the repeats automation consumers drop by trigger id."""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any

from bench import loadgen
from bench.automation import UNCONDITIONAL, bulk
from bench.common import high_watermarks
from bench.deployment import Deployment
from bench.report import Row, Target
from bench.topics_read import ends, records
from eventline.schemas.codec import codec

SIZE = 100
CLIENTS = 8


def _triggers(bootstrap: str, topic: str, start: dict[int, int], tag: str) -> list[Any]:
    """Every trigger record of this run's contacts written since ``start``."""
    avro = codec()
    found = []
    for _, _, msg in records(bootstrap, {topic: start}):
        trigger = avro.decode("WorkflowTrigger", msg.value() or b"")
        if (trigger.get("contact_email") or "").endswith(tag):
            found.append(trigger)
    return found


def kill_phase(dep: Deployment, n: int, contacts: int, processes: int, run: str) -> list[Row]:
    dep.settle()
    bootstrap, tag = dep.settings.bootstrap(), f".{run}k@example.com"
    start = ends(bootstrap, dep.topics.workflows)
    before = high_watermarks(bootstrap, dep.topics.events)
    posts = max(1, n // SIZE)
    make_bulk = partial(bulk, run=run + "k", size=SIZE, contacts=contacts)
    sent: list[loadgen.Throughput] = []
    sender = threading.Thread(
        target=lambda: sent.append(
            loadgen.throughput(loadgen.Target(dep.url), make_bulk, posts, CLIENTS, processes)
        ),
        daemon=True,
    )
    sender.start()
    kills = 0
    for share in (1 / 3, 2 / 3):
        while high_watermarks(bootstrap, dep.topics.events) - before < share * posts * SIZE:
            if not sender.is_alive() and not sent:
                raise RuntimeError("kill phase: the load generator failed")
            time.sleep(0.05)
        dep.kill_worker()
        kills += 1
        dep.start_worker()
    sender.join()
    if not sent:
        raise RuntimeError("kill phase: the load generator failed")
    acked = posts * SIZE  # the generator fails on any answer but 202
    dep.settle(timeout_s=3600)
    stored = dep.query(
        "SELECT count() AS n FROM {db}.events FINAL WHERE endsWith(contact_email, {tag:String})",
        {"tag": tag},
    )[0]["n"]
    sent_events = [e for i in range(posts) for e in make_bulk(i)]
    qualifying = sum(e["name"] in UNCONDITIONAL.values() for e in sent_events)
    triggers = _triggers(bootstrap, dep.topics.workflows, start, tag)
    ids = {t["trigger_id"] for t in triggers}
    distinct = len({t["trigger_id"] for t in triggers if t["workflow_id"] in UNCONDITIONAL})
    repeats = len(triggers) - len(ids)
    print(
        f"kill phase           : {kills} SIGKILLs of the worker during {acked} events: acked "
        f"{acked}, stored {stored} (events FINAL); triggers of {'/'.join(UNCONDITIONAL)}: "
        f"{distinct} distinct for {qualifying} qualifying events; {len(triggers)} trigger "
        f"records, {len(ids)} distinct ids: {repeats} repeats to drop by trigger id",
        flush=True,
    )
    return [
        Row("kill x2: stored events (FINAL)", stored, "events", acked, "acked",
            Target(equal=True)),
        Row("kill x2: distinct triggers", distinct, "triggers", qualifying, "qualifying events",
            Target(equal=True)),
        Row("kill x2: repeats to drop by trigger id", repeats, "records"),
    ]  # fmt: skip
