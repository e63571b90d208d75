"""The worker's automation stage: rules applied to a contact on each event, contact update and
segment check, and the outcome published on the tags, segments and workflows topics.

The logic is ``eventline.streams.automation`` (pure); this module feeds it the rules in effect, the
account's tracking switches and the deployment's clock, and sends what it decided, keyed by
contact so that automation services see each contact's messages in order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta
from typing import Any

from prometheus_client import Counter

from eventline.core import clock
from eventline.schemas.accounts import tracking
from eventline.schemas.codec import codec
from eventline.schemas.model import contact_key
from eventline.schemas.rules.book import AccountRules
from eventline.streams import automation
from eventline.streams.app import Worker
from eventline.streams.failures import heals
from eventline.streams.messages import Outcome
from eventline.streams.rules.triggers import Context
from eventline.streams.sending import send

log = logging.getLogger(__name__)

PUBLISHED = Counter(
    "eventline_worker_automation_total",
    "Automation messages published",
    ["kind"],  # tag_change, transition, trigger
)
for _kind in ("tag_change", "transition", "trigger"):
    PUBLISHED.labels(_kind)  # every series shown from the start, at 0
STATE_TRIMMED = Counter(
    "eventline_worker_state_trimmed_total",
    "Memo and history entries let go to keep a contact's state within its size budget",
)
RULES_STALE = Counter(
    "eventline_worker_rules_stale_total",
    "Events handled before the worker could read the rule and account changes made before "
    "they were received (EVENTLINE_RULES_WAIT_S passed)",
)


def save(w: Worker, key: str, contact: dict[str, Any]) -> None:
    """Write the contact (and its automation state) to the table; index its due time."""
    contact, dropped = automation.fit(contact)
    if dropped:
        STATE_TRIMMED.inc(dropped)
        log.warning("contact %s: state over its size budget, %d old entries let go", key, dropped)
    w.contacts[key] = contact
    if w.segment_clock is not None:
        w.segment_clock.note(key, contact)


def limits(w: Worker) -> automation.Limits:
    return automation.Limits(
        history_days=w.settings.history_days,
        history_max_events=w.settings.history_max_events,
        late_cutoff=timedelta(seconds=w.settings.trigger_late_cutoff_s),
    )


async def rules_for(w: Worker, account: str, received_ms: int) -> tuple[AccountRules, str]:
    """The account's rules for a record received at ``received_ms`` and the digest of its
    segment definitions, after making sure every rule and account change acknowledged
    before then has been read."""
    followers = (w.rules.follower, w.accounts.follower)
    if all(f.applied_until >= received_ms for f in followers):  # the usual case: no wait
        return w.rules.snapshot(account, received_ms)
    read = await asyncio.gather(
        *(f.wait_applied(received_ms, w.settings.rules_wait_s) for f in followers)
    )
    for follower, done in zip(followers, read, strict=True):
        if not done:
            RULES_STALE.inc()
            log.warning("%s not read up to the event's receipt; going on", follower.topic)
    return w.rules.snapshot(account, received_ms)


async def rules_read(w: Worker, timestamps_s: list[float]) -> None:
    """Read the rule and account changes up to a batch's newest record once, so that its
    records do not each ask Kafka (``rules_for`` then answers at once)."""
    newest = min(max(timestamps_s, default=0.0) * 1000, clock.now_ms())
    followers = (w.rules.follower, w.accounts.follower)
    await asyncio.gather(*(f.wait_applied(int(newest), w.settings.rules_wait_s) for f in followers))


_CONTEXTS: dict[str, tuple[str, Context]] = {}  # account -> (its settings text, context)


def context_of(w: Worker, account: str) -> Context:
    """What the account says about triggering: its tracking switch and whitelisted names
    (derived again only when the account's settings changed: they are up to 640 KiB)."""
    text = w.accounts.settings_text(account)
    known = _CONTEXTS.get(account)
    if known is not None and known[0] is text:
        return known[1]
    settings = w.accounts.settings_of(account)
    context = Context(
        tracking_on=tracking.tracking_enabled(settings),
        whitelist=frozenset(tracking.whitelist(settings)),
    )
    _CONTEXTS[account] = (text, context)
    return context


async def on_event(
    w: Worker, contact: dict[str, Any], event: dict[str, Any], new_contact: bool
) -> Outcome:
    """Apply a canonical event to its contact (nothing is sent yet)."""
    account = event["account_id"]
    rules, digest = await rules_for(w, account, _ms(event["received_at"]))
    parsed = {**event, "properties": json.loads(event["properties_json"])}
    context = context_of(w, account)
    return automation.on_event(
        contact, parsed, rules, context, limits(w), clock.now(), digest, new_contact
    )


async def on_contact_update(w: Worker, contact: dict[str, Any], record: dict[str, Any]) -> Outcome:
    """Re-evaluate segments after a registration changed the contact's attributes."""
    rules, digest = await rules_for(w, record["account_id"], _ms(record["received_at"]))
    outcome = automation.on_check(
        contact,
        rules,
        limits(w),
        clock.now(),
        "event",
        record["event_id"],
        digest,
        event_id=record["event_id"],
    )
    outcome.contact_changed = True  # the registration itself changed the record
    return outcome


async def check(w: Worker, request: dict[str, Any]) -> str:
    """Handle a ContactCheck: evaluate the contact's segments at the current time."""
    account = request["account_id"]
    key = contact_key(account, request["contact_id"])
    contact = w.contacts.get(key)
    if contact is None or contact.get("merged_into"):  # a merged contact has nothing due
        return "skipped"
    rules, digest = w.rules.snapshot(account)
    # A replay of this very check (same issue time) repeats its messages.
    check_key = f"check:{_ms(request['issued_at'])}:{request['reason']}"
    try:
        outcome = automation.on_check(
            contact, rules, limits(w), clock.now(), request["reason"], check_key, digest
        )
        await publish(w, outcome)
    except Exception as exc:
        # Not checked: due again at the next tick when Kafka was away; an error of the check
        # itself would only repeat every tick, so it waits for the contact's next change.
        if w.segment_clock is not None and heals(exc):
            w.segment_clock.note(key, contact, retry=True)
        raise
    save(w, key, outcome.contact)
    return "checked"


async def publish(w: Worker, outcome: Outcome) -> None:
    """Send the outcome's messages, keyed by contact: tag changes and the contact (when its
    record changed), then segment transitions, then workflow triggers."""
    contact = outcome.contact
    key = contact_key(contact["account_id"], contact["contact_id"])
    for change in outcome.tag_changes:
        await send(w.tags_out, key, codec().encode("TagChange", change))
    if outcome.contact_changed:
        await send(w.contacts_out, key, codec().encode("Contact", contact))
    for transition in outcome.transitions:
        await send(w.segments_out, key, codec().encode("SegmentTransition", transition))
    for trigger in outcome.triggers:
        await send(w.workflows_out, key, codec().encode("WorkflowTrigger", trigger))
    for kind, sent in (
        ("tag_change", outcome.tag_changes),
        ("transition", outcome.transitions),
        ("trigger", outcome.triggers),
    ):
        if sent:  # most events publish nothing: no metric lookup for them
            PUBLISHED.labels(kind).inc(len(sent))


def _ms(at: Any) -> int:
    return int(at.timestamp() * 1000)
