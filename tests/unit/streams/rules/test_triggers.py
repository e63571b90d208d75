"""Workflow trigger decisions: the referral discount of the Mailchimp guide, and every reason
an event does not trigger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eventline.schemas.rules.model import WorkflowRule
from eventline.streams.rules.triggers import Context, decide, trigger_id

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CUTOFF = timedelta(hours=24)
EVENT = {
    "event_id": "e-1",
    "account_id": "games",
    "name": "registered_referral",
    "properties": {"referral_code": "GAMER42"},
    "is_syncing": False,
    "source": "mailchimp:l-1",
    "occurred_at": NOW - timedelta(seconds=2),
    "received_at": NOW - timedelta(seconds=1),
}


def _rule(**change: Any) -> WorkflowRule:
    fields = {
        "rule_id": "referral-discount",
        "account_id": "games",
        "workflow_id": "wf-discount",
        "when": {"name": "registered_referral"},
    }
    return WorkflowRule.model_validate({**fields, **change})


def _decide(rule: WorkflowRule, event: dict[str, Any] = EVENT, **kw: Any) -> Any:
    (decision,) = decide(
        [rule],
        event,
        kw.pop("fired", {}),
        kw.pop("context", Context()),
        CUTOFF,
        NOW,
        **kw,
    )
    return decision


def test_a_matching_event_fires_with_a_stable_trigger_id() -> None:
    decision = _decide(_rule())
    assert decision.fire and decision.workflow_id == "wf-discount"
    assert (
        decision.trigger_id == trigger_id("e-1", "referral-discount") == _decide(_rule()).trigger_id
    )


def test_backfills_tracking_off_and_unlisted_names_never_fire() -> None:
    assert "is_syncing" in _decide(_rule(), {**EVENT, "is_syncing": True}).reason
    assert not _decide(_rule(), context=Context(tracking_on=False)).fire
    ac = {**EVENT, "source": "activecampaign"}
    assert "whitelisted" in _decide(_rule(), ac, context=Context(whitelist=frozenset())).reason
    assert _decide(_rule(), ac, context=Context(whitelist=frozenset({"registered_referral"}))).fire


def test_a_late_event_updates_history_but_fires_nothing() -> None:
    late = {**EVENT, "occurred_at": NOW - timedelta(days=3)}
    decision = _decide(_rule(), late)
    assert not decision.fire and decision.reason.startswith("late")


def test_lateness_is_the_senders_not_the_pipelines() -> None:
    # received in time, processed two days later (the worker was down): still fires
    waited = {
        **EVENT,
        "occurred_at": NOW - timedelta(days=2, seconds=5),
        "received_at": NOW - timedelta(days=2),
    }
    assert _decide(_rule(), waited).fire


def test_the_contact_condition_is_asked_only_of_rules_that_have_one() -> None:
    tagged = _rule(contact={"kind": "tag", "tag": "vip"})
    assert _decide(tagged, contact_meets=lambda rule: True).fire
    refused = _decide(tagged, contact_meets=lambda rule: False)
    assert not refused.fire and "contact condition" in refused.reason
    assert _decide(_rule(), contact_meets=lambda rule: False).fire


def test_once_per_contact_and_at_most_once_per_period() -> None:
    fired = {"referral-discount": NOW - timedelta(hours=1)}
    assert not _decide(_rule(once_per_contact=True), fired=fired).fire
    assert not _decide(_rule(at_most_every_s=7200), fired=fired).fire
    assert _decide(_rule(at_most_every_s=1800), fired=fired).fire
    assert _decide(_rule(), fired=fired).fire  # no limit: every time


def test_other_accounts_and_other_events_get_no_decision() -> None:
    assert decide([_rule(account_id="other")], EVENT, {}, Context(), CUTOFF, NOW) == []
    assert decide([_rule()], {**EVENT, "name": "login"}, {}, Context(), CUTOFF, NOW) == []


def test_a_whitelisted_name_still_obeys_the_other_limits() -> None:
    ac = {**EVENT, "source": "activecampaign"}
    listed = Context(whitelist=frozenset({"registered_referral"}))
    fired = {"referral-discount": NOW - timedelta(hours=1)}
    assert not _decide(_rule(once_per_contact=True), ac, context=listed, fired=fired).fire
