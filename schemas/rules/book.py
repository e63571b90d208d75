"""Which rules are in effect: every version of every rule read from the rules topic. Pure.

Time semantics (docs/automation.md):
- a tag or workflow rule version applies to the events *received* after it was written, so a
  change never reaches back to events already in the pipeline, and an event always meets the
  rules its sender could know of;
- segments are state, not reactions: membership is always computed with the *current*
  definitions (a changed segment re-evaluates its contacts, see ``eventline.streams.timers``).

After a restart only the newest version of each rule is left on the compacted topic: an
event received before it, but after the rule was created, gets the oldest version known.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventline.schemas.rules.model import Rule, SegmentRule, TagRule, WorkflowRule, parse_rule

log = logging.getLogger(__name__)
VERSIONS_KEPT = 20  # per rule: enough for every event in flight around a burst of changes


@dataclass(frozen=True)
class Version:
    """One version of a rule: in effect from ``effective_ms``; ``rule`` None once deleted."""

    effective_ms: int
    rule: Rule | None


@dataclass
class AccountRules:
    """An account's rules in effect for one event, by kind, in rule id order."""

    tags: list[TagRule] = field(default_factory=list)
    segments: list[SegmentRule] = field(default_factory=list)
    workflows: list[WorkflowRule] = field(default_factory=list)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class RuleBook:
    """Every account's rules and their versions, as applied from the rules topic."""

    def __init__(self) -> None:
        self._versions: dict[tuple[str, str], list[Version]] = {}
        self._entries: dict[tuple[str, str], dict[str, Any]] = {}
        self._by_account: dict[str, set[str]] = {}
        self._newest_ms: dict[str, int] = {}  # account -> newest effective time of any version
        self._current: dict[str, AccountRules] = {}  # cache of the newest versions
        self._digests: dict[str, str] = {}

    def apply(self, entry: dict[str, Any]) -> None:
        """Apply one RuleEntry (in topic order). An entry that does not parse is skipped."""
        account, rule_id = entry["account_id"], entry["rule_id"]
        rule: Rule | None = None
        if not entry["deleted"]:
            try:
                rule = parse_rule(json.loads(entry["definition_json"]), account, rule_id)
            except Exception as exc:  # written by another version of eventline, perhaps
                log.error("rule %s/%s v%s skipped: %s", account, rule_id, entry["version"], exc)
                return
        key = (account, rule_id)
        effective = _ms(entry["updated_at"])
        versions = [v for v in self._versions.get(key, []) if v.effective_ms < effective]
        versions.append(Version(effective, rule))
        self._versions[key] = versions[-VERSIONS_KEPT:]
        self._entries[key] = entry
        self._by_account.setdefault(account, set()).add(rule_id)
        self._newest_ms[account] = max(self._newest_ms.get(account, 0), effective)
        self._current.pop(account, None)
        self._digests.pop(account, None)

    def entry(self, account: str, rule_id: str) -> dict[str, Any] | None:
        """The newest entry of a rule (a deleted rule's too), or None."""
        return self._entries.get((account, rule_id))

    def entries(self, account: str) -> list[dict[str, Any]]:
        """The newest entry of each rule of the account that is not deleted, by rule id."""
        found = (self._entries[(account, r)] for r in sorted(self._by_account.get(account, ())))
        return [e for e in found if not e["deleted"]]

    def in_effect(self, account: str, received_ms: int) -> AccountRules:
        """The account's rules for an event received at ``received_ms``: the tag and workflow
        rule versions written before it, and the current segments."""
        current = self.current(account)
        if received_ms >= self._newest_ms.get(account, 0):
            return current
        rules = AccountRules(segments=current.segments)
        for rule_id in sorted(self._by_account.get(account, ())):
            rule = self._version_at(account, rule_id, received_ms)
            if isinstance(rule, TagRule):
                rules.tags.append(rule)
            elif isinstance(rule, WorkflowRule):
                rules.workflows.append(rule)
        return rules

    def current(self, account: str) -> AccountRules:
        """The account's newest rules."""
        cached = self._current.get(account)
        if cached is not None:
            return cached
        rules = AccountRules()
        for rule_id in sorted(self._by_account.get(account, ())):
            rule = self._versions[(account, rule_id)][-1].rule
            if isinstance(rule, TagRule):
                rules.tags.append(rule)
            elif isinstance(rule, SegmentRule):
                rules.segments.append(rule)
            elif isinstance(rule, WorkflowRule):
                rules.workflows.append(rule)
        self._current[account] = rules
        return rules

    def segments_digest(self, account: str) -> str:
        """A fingerprint of the account's current segment definitions: when it changes, every
        contact of the account is evaluated again."""
        digest = self._digests.get(account)
        if digest is None:
            segments = [s.model_dump(mode="json") for s in self.current(account).segments]
            text = json.dumps(segments, sort_keys=True)
            digest = hashlib.sha256(text.encode()).hexdigest()[:16] if segments else ""
            self._digests[account] = digest
        return digest

    def _version_at(self, account: str, rule_id: str, at_ms: int) -> Rule | None:
        versions = self._versions[(account, rule_id)]
        in_effect = [v for v in versions if v.effective_ms <= at_ms]
        if in_effect:
            return in_effect[-1].rule
        created = _ms(self._entries[(account, rule_id)]["created_at"])
        # Older versions were compacted away: the oldest known stands in for them.
        return versions[0].rule if created <= at_ms else None
