"""The rules of every account, on the compacted topic ``<prefix>.rules``.

The gateway (rules API), the CLI and every worker keep a ``RuleCatalog``: it reads the topic
whole at start, then follows it, so a rule written anywhere reaches every running worker within
moments, with no restart. Writes go through ``put``/``delete``, which validate first and
answer once Kafka acknowledged the new version.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from pydantic import ValidationError

from eventline import clock
from eventline.follow import TopicFollower
from eventline.settings import Settings
from eventline.topics import Topics
from producers.kafka import KafkaWriter
from schemas.codec import codec
from streams.rules.book import AccountRules, RuleBook
from streams.rules.model import (
    KINDS,
    Rule,
    SegmentRule,
    WorkflowRule,
    definition_of,
    longest_window_days,
    parse_rule,
)

log = logging.getLogger(__name__)


class RuleRejected(Exception):
    """A rule definition that cannot be one: each problem names its field and the reason."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{p['field']}: {p['reason']}" for p in problems))
        self.problems = problems


def check_rule(definition: Any, account: str, rule_id: str, history_days: int) -> Rule:
    """Validate a definition for ``account`` under ``rule_id``; raise RuleRejected."""
    if not isinstance(definition, dict):
        raise RuleRejected([{"field": "body", "reason": "must be a JSON object"}])
    if definition.get("kind") not in KINDS:
        reason = f"must be one of {', '.join(KINDS)}"
        raise RuleRejected([{"field": "kind", "reason": reason}])
    try:
        rule = parse_rule(definition, account, rule_id)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"][1:]]  # [0] is the rule kind
            field = ".".join(loc) or ("rule_id" if "rule_id" in str(err["loc"]) else "body")
            problems.append({"field": field, "reason": err["msg"]})
        raise RuleRejected(problems) from None
    condition = rule.condition if isinstance(rule, SegmentRule) else None
    if isinstance(rule, WorkflowRule):
        condition = rule.contact
    if condition is not None and longest_window_days(condition) > history_days:
        reason = (
            f"looks back {longest_window_days(condition):g} days, but history is kept "
            f"{history_days} days (EVENTLINE_HISTORY_DAYS)"
        )
        field = "condition" if isinstance(rule, SegmentRule) else "contact"
        raise RuleRejected([{"field": field, "reason": reason}])
    return rule


def rule_view(entry: dict[str, Any]) -> dict[str, Any]:
    """A rule as the API and the CLI show it."""
    return {
        "rule_id": entry["rule_id"],
        **json.loads(entry["definition_json"]),
        "kind": entry["kind"],
        "version": entry["version"],
        "created_at": entry["created_at"].isoformat(),
        "updated_at": entry["updated_at"].isoformat(),
    }


class RuleCatalog:
    """Every account's rules, kept current from the rules topic, and the writes to it."""

    def __init__(self, settings: Settings, writer: KafkaWriter | None = None) -> None:
        self.settings = settings
        self.topic = Topics(settings.topic_prefix).rules
        self._writer = writer
        self._lock = threading.Lock()
        self._book = RuleBook()
        self.follower = TopicFollower(
            settings.bootstrap(), self.topic, self._apply, clock.now_ms, "rules"
        )

    def start(self, timeout_s: float = 30.0) -> None:
        """Read every rule on the topic, then follow it."""
        self.follower.start(timeout_s)

    def stop(self) -> None:
        self.follower.stop()

    def _apply(self, key: str, value: bytes | None) -> None:
        if value is None:
            return  # rules are deleted by a deleted version, never a tombstone
        try:
            entry = codec().decode("RuleEntry", value)
        except Exception as exc:
            log.error("rules topic: skipping undecodable entry %r: %s", key, exc)
            return
        with self._lock:
            self._book.apply(entry)

    # -- reading -------------------------------------------------------------------------

    def snapshot(self, account: str, received_ms: int | None = None) -> tuple[AccountRules, str]:
        """The account's rules in effect for a record received at ``received_ms`` (the
        current ones when None) and the digest of its segment definitions, read together."""
        with self._lock:
            rules = (
                self._book.current(account)
                if received_ms is None
                else self._book.in_effect(account, received_ms)
            )
            return rules, self._book.segments_digest(account)

    def segments_digest(self, account: str) -> str:
        with self._lock:
            return self._book.segments_digest(account)

    def entries(self, account: str, kind: str | None = None) -> list[dict[str, Any]]:
        """The account's rules (newest versions), by rule id; only ``kind`` when given."""
        with self._lock:
            found = self._book.entries(account)
        return [e for e in found if kind is None or e["kind"] == kind]

    def entry(self, account: str, rule_id: str) -> dict[str, Any]:
        """A rule's newest version; LookupError when there is none (or it was deleted)."""
        with self._lock:
            entry = self._book.entry(account, rule_id)
        if entry is None or entry["deleted"]:
            raise LookupError(f"no rule {rule_id!r} in account {account!r}")
        return entry

    # -- writing -------------------------------------------------------------------------

    async def put(self, account: str, rule_id: str, definition: Any) -> tuple[dict[str, Any], bool]:
        """Create or replace a rule; (its new entry, whether it was created)."""
        rule = check_rule(definition, account, rule_id, self.settings.history_days)
        with self._lock:
            previous = self._book.entry(account, rule_id)
        created = previous is None or previous["deleted"]
        at = clock.now()
        entry = {
            "account_id": account,
            "rule_id": rule_id,
            "kind": rule.kind,
            "definition_json": json.dumps(definition_of(rule), sort_keys=True),
            "version": (previous["version"] + 1) if previous else 1,
            "deleted": False,
            "created_at": at if created or previous is None else previous["created_at"],
            "updated_at": at,
        }
        return await self._write(entry), created

    async def delete(self, account: str, rule_id: str) -> dict[str, Any]:
        """Delete a rule (a deleted version: it applies to events received after it)."""
        entry = self.entry(account, rule_id)
        deleted = {
            **entry,
            "version": entry["version"] + 1,
            "deleted": True,
            "updated_at": clock.now(),
        }
        return await self._write(deleted)

    async def _write(self, entry: dict[str, Any]) -> dict[str, Any]:
        if self._writer is None:
            raise RuntimeError("this RuleCatalog only reads the rules topic")
        value = codec().encode("RuleEntry", entry)
        key = f"{entry['account_id']}/{entry['rule_id']}"
        await self._writer.produce(self.topic, key, value, self.settings.produce_timeout_s)
        stored = codec().decode("RuleEntry", value)  # as every reader will see it
        with self._lock:  # read-your-writes, before the follower sees it come back
            self._book.apply(stored)
        return stored
