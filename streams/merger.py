"""The worker's side of an identity merge: the records that carry it from the claim to the
source's agent and on to the target's (the logic is ``eventline.streams.merge``, pure).

1. resolve, on the claimed key's partition: the key had a contact of its own, so the claim
   goes on to ``incoming`` keyed by its route key, ``merge_from`` set (``request``);
2. resolve, on the route key's partition (after any aliases): the target contact is known,
   a ``ContactMerge`` ``give`` goes to ``by-contact`` keyed by the source (``start``);
3. process, the source's partition: the source is frozen and forwards from now on; its last
   ``Contact`` (``merged_into``) and segment exits are published, and a ``fold`` carrying its
   state goes to ``by-contact`` keyed by the target (``handle``);
4. process, the target's partition: the state is folded in, segments evaluated again.

Each step is at least once and repeats itself when replayed (eventline.streams.merge).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from prometheus_client import Counter

from eventline.core import clock
from eventline.core.errors import InvalidEvent
from eventline.schemas.codec import codec
from eventline.schemas.model import contact_key
from eventline.streams import automate, merge
from eventline.streams.app import Worker
from eventline.streams.resolve import MAX_HOPS
from eventline.streams.sending import send

log = logging.getLogger(__name__)

MERGES = Counter(
    "eventline_worker_merges_total",
    "Identity merge steps handled (give: a source frozen; fold: its state folded into the "
    "target; forward: a record that reached a merged contact sent on to its target)",
    ["step"],
)


async def request(w: Worker, claim: dict[str, Any], source: str) -> None:
    """Send the claim on to the key it points at, to find the merge's target."""
    value = codec().encode("IncomingRecord", {**claim, "merge_from": source})
    await send(w.incoming, claim["route_key"], value)


async def start(w: Worker, claim: dict[str, Any], target: str) -> str:
    """The merge's target is known: ask the source's agent to give its state."""
    source, account = claim["merge_from"], claim["account_id"]
    if source == target:  # the claim re-pointed a key at its own contact
        return "claimed"
    step = {
        "account_id": account,
        "merge_id": merge.merge_id(account, source),
        "from_contact_id": source,
        "into_contact_id": target,
        "stage": merge.GIVE,
        "state_json": None,
        "requested_at": claim["received_at"],
    }
    await send(w.by_contact, contact_key(account, source), codec().encode("ContactMerge", step))
    return "merging"


async def handle(w: Worker, step: dict[str, Any]) -> str:
    """A ``ContactMerge`` on ``by-contact``: give (the source's agent) or fold (the target's)."""
    if step["stage"] == merge.GIVE:
        return await _give(w, step)
    return await _fold(w, step)


async def _give(w: Worker, step: dict[str, Any]) -> str:
    account, source, target = step["account_id"], step["from_contact_id"], step["into_contact_id"]
    key = contact_key(account, source)
    contact = w.contacts.get(key)
    now_ms = clock.now_ms()
    if contact is not None and contact.get("merged_into") not in (None, target):
        merged = contact["merged_into"]
        log.warning("contact %s was merged into %s already; not into %s", key, merged, target)
        return "skipped"
    if contact is None or not contact.get("merged_into"):
        contact = contact or merge.blank_contact(account, source, now_ms, step["merge_id"])
        contact = merge.give(contact, target, step["merge_id"], now_ms)
    # A replay finds the source frozen already and publishes what it published then.
    await automate.publish(w, merge.given(contact))
    fold = {**step, "stage": merge.FOLD, "state_json": json.dumps(merge.state_of(contact))}
    await send(w.by_contact, contact_key(account, target), codec().encode("ContactMerge", fold))
    automate.save(w, key, contact)
    MERGES.labels("give").inc()
    return "merged"


async def _fold(w: Worker, step: dict[str, Any]) -> str:
    account, target = step["account_id"], step["into_contact_id"]
    key = contact_key(account, target)
    contact = w.contacts.get(key)
    if contact is not None and contact.get("merged_into"):  # merged on in the meantime
        hops = step.get("hops", 0)
        _bounded(hops, f"the merge of {step['from_contact_id']}")
        onward = {**step, "into_contact_id": contact["merged_into"], "hops": hops + 1}
        into = contact_key(account, contact["merged_into"])
        await send(w.by_contact, into, codec().encode("ContactMerge", onward))
        return "forwarded"
    if contact is None:
        contact = merge.blank_contact(account, target, clock.now_ms(), step["merge_id"])
    rules, digest = w.rules.snapshot(account)
    source = json.loads(step["state_json"] or "{}")
    source.setdefault("contact_id", step["from_contact_id"])
    outcome = merge.fold(
        contact, source, step["merge_id"], rules, automate.limits(w), clock.now(), digest
    )
    await automate.publish(w, outcome)
    automate.save(w, key, outcome.contact)
    MERGES.labels("fold").inc()
    return "folded"


async def forward(w: Worker, record: dict[str, Any], target: str) -> str:
    """A record for a merged contact goes on to the contact it was merged into."""
    hops = record.get("hops", 0)
    _bounded(hops, f"a record for contact {record['contact_id']}")
    onward = {**record, "contact_id": target, "hops": hops + 1}
    value = codec().encode("IncomingRecord", onward)
    await send(w.by_contact, contact_key(record["account_id"], target), value)
    MERGES.labels("forward").inc()
    return "forwarded"


def _bounded(hops: int, what: str) -> None:
    """Fail a record sent around merged contacts that point at each other (a contact merged
    into one that was merged into it: a cycle no chain of merges should make)."""
    if hops >= MAX_HOPS:
        raise InvalidEvent(
            "contact_id", f"{what} was forwarded by {MAX_HOPS} merged contacts: a merge cycle"
        )
