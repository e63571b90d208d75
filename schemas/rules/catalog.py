"""The rules of every account, on the compacted topic ``<prefix>.rules``.

The gateway (rules API), the CLI and every worker keep a ``RuleCatalog``: it reads the topic
whole at start, then follows it, folding each rule's changes into its versions
(``eventline.schemas.rules.ledger``), so a rule written anywhere reaches every running worker within
moments, with no restart. Writes (``put``, ``create``, ``delete``) are linearizable across
processes: each validates, appends a change on the rule's partition, waits until its own
follower has folded it, and answers with the version the fold gave it, which every reader
computes the same way; then it writes a checkpoint of the rule.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from typing import Any

from pydantic import ValidationError

from eventline.core import clock
from eventline.core.errors import TransientError
from eventline.core.fold import Outcome
from eventline.core.follow import TopicFollower
from eventline.core.kafka import KafkaWriter, key_partition
from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.schemas.codec import codec
from eventline.schemas.limits import MAX_RULE_BYTES
from eventline.schemas.rules import ledger
from eventline.schemas.rules.book import AccountRules, RuleBook
from eventline.schemas.rules.ledger import RuleChange, RuleLedger, Written
from eventline.schemas.rules.model import (
    KINDS,
    Rule,
    SegmentRule,
    WorkflowRule,
    definition_of,
    longest_window_days,
    parse_rule,
)

log = logging.getLogger(__name__)
# Rules per account (those not deleted). Each is evaluated for every event of the account, and
# each segment is an entry of every contact's state and of its triggers' contact_segments.
# Checked against every write answered before (from any process): writers racing at the
# limit may pass it by the number of creations in flight at once.
MAX_RULES = 1000


class RuleConflict(Exception):
    """The write conflicts with the rules as stored: the rule exists (a creation), or the
    account has MAX_RULES rules (``limit``)."""

    def __init__(self, reason: str, limit: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.limit = limit


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


def stored_definition(rule: Rule) -> str:
    """The definition as a version stores it; RuleRejected past MAX_RULE_BYTES (a version is
    one Kafka message, whatever the body limit is set to)."""
    text = json.dumps(definition_of(rule), sort_keys=True)
    if len(text.encode()) > MAX_RULE_BYTES:
        reason = f"is {len(text.encode())} bytes as stored, more than {MAX_RULE_BYTES}"
        raise RuleRejected([{"field": "body", "reason": reason}])
    return text


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
        self.ledger = RuleLedger()
        # Change ids this process wrote and waits for -> their outcome once folded.
        self._waiting: dict[str, Outcome | None] = {}
        self.follower = TopicFollower(
            settings.bootstrap(), self.topic, None, clock.now_ms, "rules", apply_at=self._apply
        )

    def start(self, timeout_s: float = 30.0) -> None:
        """Read every rule on the topic, then follow it."""
        self.follower.start(timeout_s)

    def stop(self) -> None:
        self.follower.stop()

    async def sync(self) -> None:
        """Wait until every write acknowledged before now is read, so a read that follows
        sees every write answered before it, whichever process answered it."""
        if not await self.follower.wait_applied(clock.now_ms(), self.settings.produce_timeout_s):
            raise TransientError(f"{self.topic} could not be read up to now")

    def _apply(self, partition: int, offset: int, key: str, value: bytes | None) -> None:
        if value is None:
            return  # tombstones delete what a checkpoint holds: nothing to fold
        kind = ledger.parse_key(key)[0]
        try:
            if kind == "change":
                self._fold(offset, ledger.change_of(codec().decode("RuleChange", value)))
            elif kind in ("entry", "checkpoint"):
                self._restore(kind, offset, key, codec().decode("RuleEntry", value))
            else:
                log.warning("rules topic: skipping a record with key %r", key)
        except Exception as exc:  # a bad record must not stop the others from applying
            log.error("rules topic: skipping undecodable entry %r: %s", key, exc)

    def _fold(self, offset: int, change: RuleChange) -> None:
        rule = ledger.rule_key(change.account_id, change.rule_id)
        with self._lock:
            before = self.ledger.state(rule)
            outcome, _ = self.ledger.apply(rule, offset, change)
            if change.change_id in self._waiting:
                self._waiting[change.change_id] = outcome
            self._show(before, self.ledger.state(rule))

    def _restore(self, kind: str, offset: int, key: str, entry: dict[str, Any]) -> None:
        """A whole version: a checkpoint through the offset its key names, or an entry of an
        earlier version, through its own offset."""
        rule = ledger.rule_key(entry["account_id"], entry["rule_id"])
        through = int(ledger.parse_key(key)[3]) if kind == "checkpoint" else offset
        with self._lock:
            before = self.ledger.state(rule)
            if kind == "checkpoint":
                self.ledger.saw_checkpoint(rule, through)
            self.ledger.restore(rule, through, entry)
            self._show(before, self.ledger.state(rule))

    def _show(self, before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
        """Give the book a rule's new version (call with the lock held)."""
        if after is not None and after != before:
            self._book.apply(after)

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

    def _live(self, account: str, rule_id: str) -> tuple[bool, int]:
        """Whether the rule exists, and how many rules the account has, as read so far."""
        with self._lock:
            entry = self._book.entry(account, rule_id)
            count = len(self._book.entries(account))
        return entry is not None and not entry["deleted"], count

    # -- writing -------------------------------------------------------------------------

    async def put(self, account: str, rule_id: str, definition: Any) -> tuple[dict[str, Any], bool]:
        """Create or replace a rule; (its new version as stored, whether it was created)."""
        rule = check_rule(definition, account, rule_id, self.settings.history_days)
        text = stored_definition(rule)
        if not self._live(account, rule_id)[0]:  # a creation, perhaps: is there room?
            await self.sync()  # count every creation and deletion answered before
            self._check_room(account, rule_id)
        outcome = await self._change(account, rule_id, ledger.PUT, rule.kind, text)
        written: Written = outcome.value
        return written.entry, written.created

    async def create(self, account: str, rule_id: str, definition: Any) -> dict[str, Any]:
        """Create a rule; RuleConflict when it exists (whichever process created it)."""
        rule = check_rule(definition, account, rule_id, self.settings.history_days)
        text = stored_definition(rule)
        await self.sync()  # a creation answered elsewhere is refused here without a write
        if self._live(account, rule_id)[0]:
            raise RuleConflict(f"rule {rule_id!r} exists already")
        self._check_room(account, rule_id)
        outcome = await self._change(account, rule_id, ledger.CREATE, rule.kind, text)
        if outcome.error == ledger.EXISTS:
            raise RuleConflict(outcome.reason)
        written: Written = outcome.value
        return written.entry

    async def delete(self, account: str, rule_id: str) -> dict[str, Any]:
        """Delete a rule (a deleted version: it applies to events received after it);
        LookupError when there is none."""
        await self.sync()  # "no rule" only once every write answered before is read
        self.entry(account, rule_id)
        outcome = await self._change(account, rule_id, ledger.DELETE, "", "")
        if outcome.error == ledger.NOT_FOUND:
            raise LookupError(outcome.reason)
        written: Written = outcome.value
        return written.entry

    def _check_room(self, account: str, rule_id: str) -> None:
        """RuleConflict when creating the rule would pass MAX_RULES."""
        live, count = self._live(account, rule_id)
        if not live and count >= MAX_RULES:
            reason = f"account {account!r} has {count} rules, at most {MAX_RULES}: delete one first"
            raise RuleConflict(reason, limit=True)

    def partition_of(self, account: str, rule_id: str) -> int:
        """The rule's partition: where its entries of earlier versions are, so they and its
        changes are in one order."""
        return key_partition(ledger.rule_key(account, rule_id), self.settings.partitions)

    def _require_writer(self) -> KafkaWriter:
        if self._writer is None:
            raise RuntimeError("this RuleCatalog only reads the rules topic")
        return self._writer

    async def _change(
        self, account: str, rule_id: str, op: str, kind: str, definition_json: str
    ) -> Outcome:
        """Append one change to the rule, in order with every other write of it from any
        process; return its outcome once folded here (an outcome that is no refusal the
        caller knows raises TransientError), then checkpoint the rule."""
        writer = self._require_writer()
        change = RuleChange(
            uuid.uuid4().hex, account, rule_id, op, kind, definition_json, clock.now()
        )
        key = ledger.change_key(account, rule_id, change.change_id)
        value = codec().encode("RuleChange", ledger.change_record(change))
        timeout = self.settings.produce_timeout_s
        with self._lock:
            self._waiting[change.change_id] = None
        try:
            where = await writer.produce_to(
                self.topic, key, value, timeout, self.partition_of(account, rule_id)
            )
            await self._read_back(*where, key, value)
            with self._lock:
                outcome = self._waiting[change.change_id]
        finally:
            with self._lock:
                self._waiting.pop(change.change_id, None)
        if outcome is None or outcome.error not in (None, ledger.EXISTS, ledger.NOT_FOUND):
            raise TransientError(f"{self.topic}: change {change.change_id} was not applied")
        await self._checkpoint(account, rule_id)
        return outcome

    async def _read_back(self, partition: int, offset: int, key: str, value: bytes) -> None:
        """Wait until the follower has folded the record written at ``offset``."""
        timeout = self.settings.produce_timeout_s
        if not await self.follower.wait_offset(partition, offset, timeout):
            raise TransientError(
                f"{self.topic}: {key} was written (partition {partition}, offset {offset}) but "
                f"not read back within {timeout:.0f}s; it applies all the same: read before "
                "retrying"
            )

    async def _checkpoint(self, account: str, rule_id: str) -> None:
        """Write the rule as folded here, then delete the records it makes obsolete. Best
        effort: a checkpoint not written is written by the rule's next change."""
        writer = self._require_writer()
        rule = ledger.rule_key(account, rule_id)
        with self._lock:
            plan = self.ledger.plan_checkpoint(rule)
        if plan is None:
            return
        timeout, partition = self.settings.produce_timeout_s, self.partition_of(account, rule_id)
        obsolete = [ledger.change_key(account, rule_id, c) for c in plan.obsolete_changes] + [
            ledger.checkpoint_key(account, rule_id, t)
            for t in plan.obsolete_checkpoints
            if t < plan.through
        ]
        try:
            if plan.state is not None:  # else every change was refused: nothing to hold
                value = codec().encode("RuleEntry", plan.state)
                key = ledger.checkpoint_key(account, rule_id, plan.through)
                await writer.produce_to(self.topic, key, value, timeout, partition)
            # Only once the checkpoint is on the topic may what it holds go.
            await asyncio.gather(
                *(writer.produce_to(self.topic, k, None, timeout, partition) for k in obsolete)
            )
        except TransientError as exc:
            log.warning("rules topic: checkpoint of %r not written: %s", rule, exc)
