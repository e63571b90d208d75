"""Which workflow rules an event triggers, and why the others do not. Pure logic.

An event never triggers when it is a backfill (``is_syncing``), when its account has tracking
switched off, when it came through ActiveCampaign under a name that is not whitelisted, or
when it is late: it was received longer than the cut-off after it occurred (history is still
updated; stale automations are not fired). Lateness is the sender's (``received_at -
occurred_at``), not the pipeline's: an event that waited in Kafka while the worker was down
still triggers, late rather than never. Re-processing the same event gives the same
trigger ids, so consumers and the trigger topic's writer can drop repeats.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eventline.schemas.model import name_id
from eventline.schemas.rules.model import WorkflowRule
from eventline.streams.rules.match import event_matches

_TRIGGERS = uuid.UUID("0b8f5b0e-3f0a-4d7e-9b7a-6c1f2d9e4a21")


@dataclass(frozen=True)
class Context:
    """What the event's account says about triggering."""

    tracking_on: bool = True
    whitelist: frozenset[str] | None = None  # ActiveCampaign's whitelisted names, if any


@dataclass(frozen=True)
class Decision:
    rule_id: str
    workflow_id: str
    trigger_id: str
    fire: bool
    reason: str


def trigger_id(event_id: str, rule_id: str) -> str:
    """The same event and rule always give the same trigger id."""
    return name_id(_TRIGGERS, f"{event_id}\x1f{rule_id}")


def decide(
    rules: Iterable[WorkflowRule],
    event: Mapping[str, Any],
    fired: Mapping[str, datetime],
    context: Context,
    late_cutoff: timedelta,
    now: datetime,
    contact_meets: Callable[[WorkflowRule], bool] = lambda _rule: True,
) -> list[Decision]:
    """A decision for every rule of the event's account whose match the event meets.

    ``fired``: rule id -> when it last fired for this contact; ``contact_meets``: whether the
    contact meets the rule's ``contact`` condition.
    """
    decisions = []
    for rule in rules:
        if rule.account_id != event.get("account_id") or not event_matches(event, rule.when):
            continue
        reason = _refusal(rule, event, fired, context, late_cutoff, now)
        if reason is None and rule.contact is not None and not contact_meets(rule):
            reason = "the contact does not meet the rule's contact condition"
        decisions.append(
            Decision(
                rule_id=rule.rule_id,
                workflow_id=rule.workflow_id,
                trigger_id=trigger_id(str(event["event_id"]), rule.rule_id),
                fire=reason is None,
                reason=reason or "matched",
            )
        )
    return decisions


def _refusal(
    rule: WorkflowRule,
    event: Mapping[str, Any],
    fired: Mapping[str, datetime],
    context: Context,
    late_cutoff: timedelta,
    now: datetime,
) -> str | None:
    if event.get("is_syncing"):
        return "is_syncing: a backfill never triggers"
    if not context.tracking_on:
        return "event tracking is switched off for the account"
    listed = context.whitelist
    from_ac = event.get("source") == "activecampaign"
    if from_ac and listed is not None and event.get("name") not in listed:
        return "event name is not whitelisted"
    lateness = event.get("received_at", now) - event["occurred_at"]
    if lateness > late_cutoff:
        return f"late: received {lateness} after it occurred (cut-off {late_cutoff})"
    last = fired.get(rule.rule_id)
    if last is not None and rule.once_per_contact:
        return "already fired for this contact"
    period = rule.at_most_every_s
    if last is not None and period is not None and now - last < timedelta(seconds=period):
        return f"fired within the last {period}s"
    return None
