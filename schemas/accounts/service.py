"""Accounts and keys on Kafka: every gateway (and the CLI, worker and sink) reads the accounts topic
into a ``Registry``, folding each account's changes with ``eventline.schemas.accounts.ledger``, so
every running process sees a new key or a changed setting within moments, with no database of its
own.

A change is answered only once it is applied: the writer appends it to its account's
partition, waits until its own follower has read the topic up to it, and answers with the
outcome the fold gave it, which every other reader computes the same way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from datetime import datetime
from typing import Any

from eventline.core import clock
from eventline.core.errors import TransientError
from eventline.core.follow import TopicFollower
from eventline.core.kafka import KafkaWriter, key_partition
from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.schemas.accounts import ledger
from eventline.schemas.accounts.ledger import (
    CREATE_ACCOUNT,
    EXISTS,
    NOT_FOUND,
    SET_ENABLED,
    AccountState,
    Change,
    Ledger,
    Outcome,
)
from eventline.schemas.accounts.registry import (
    ACCOUNT,
    EVENTLINE_SHAPE,
    Registry,
    entry_key,
    key_entry,
    mint_key,
)
from eventline.schemas.codec import codec
from eventline.schemas.model import now

log = logging.getLogger(__name__)
ERASED = ledger.ERASED  # kept here too: the sink and the Emma routes import it from here


class AccountConflict(Exception):
    """The account or key exists already, or does not exist."""


class ChangeRefused(Exception):
    """A change's outcome its caller did not expect (e.g. its account is gone)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


class Accounts:
    """The registry kept current from the accounts topic, and the writes to it."""

    def __init__(self, settings: Settings, writer: KafkaWriter | None = None) -> None:
        self.settings = settings
        self.topic = Topics(settings.topic_prefix).accounts
        self.registry = Registry()
        self.ledger = Ledger()
        self._writer = writer
        self._lock = threading.Lock()
        # Change ids this process wrote and waits for -> (outcome, checkpoint due) once read.
        self._waiting: dict[str, tuple[Outcome, bool] | None] = {}
        # Accounts the ledger changed since the registry last showed them: an entry is made
        # (settings as JSON) when next read, not once per change read at start.
        self._dirty: set[str] = set()
        self.follower = TopicFollower(
            settings.bootstrap(), self.topic, None, clock.now_ms, "accounts", apply_at=self._apply
        )

    # -- reading -------------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> None:
        """Read the topic up to its current end (so every existing key works), then follow it."""
        self.follower.start(timeout_s)

    def stop(self) -> None:
        self.follower.stop()

    async def sync(self) -> None:
        """Wait until every change acknowledged before now is read, so a read that follows
        sees every change answered before it, whichever gateway answered it."""
        if not await self.follower.wait_applied(clock.now_ms(), self.settings.produce_timeout_s):
            raise TransientError(f"{self.topic} could not be read up to now")

    def _apply(self, partition: int, offset: int, key: str, value: bytes | None) -> None:
        kind, account_id, _ = ledger.parse_key(key)
        try:
            if kind == "key":
                entry = codec().decode("AccountEntry", value) if value else None
                with self._lock:
                    self.registry.apply(key, entry)
            elif kind == "account":  # a whole state, written by an earlier version
                entry = codec().decode("AccountEntry", value) if value else None
                state = AccountState.of_entry(entry) if entry else None
                with self._lock:
                    self.ledger.restore(account_id, offset, state)
                    self._dirty.add(account_id)
            elif kind in ("change", "checkpoint") and value is not None:
                self._apply_change(offset, change_of(codec().decode("AccountChange", value)))
            elif kind not in ("change", "checkpoint"):  # their tombstones follow checkpoints
                log.warning("accounts topic: skipping a record with key %r", key)
        except Exception as exc:  # a bad record must not stop the others from applying
            log.error("accounts topic: skipping undecodable entry %r: %s", key, exc)

    def _apply_change(self, offset: int, change: Change) -> None:
        with self._lock:
            read = self.ledger.read(offset, change)
            if read is not None and change.change_id in self._waiting:
                self._waiting[change.change_id] = read
            self._dirty.add(change.account_id)

    def _current(self) -> Registry:
        """The registry with every account as folded so far; call with the lock held."""
        for account_id in self._dirty:
            state = self.ledger.state(account_id)
            self.registry.put_account(account_id, state.entry() if state else None)
        self._dirty.clear()
        return self.registry

    # -- writing -------------------------------------------------------------------------

    def partition_of(self, account_id: str) -> int:
        """The account's partition: where ``account/<id>`` goes (murmur2, as every producer
        here partitions), so entries of earlier versions and changes are in one order."""
        return key_partition(f"account/{account_id}", self.settings.partitions)

    def _require_writer(self) -> KafkaWriter:
        if self._writer is None:
            raise RuntimeError("this Accounts instance only reads the accounts topic")
        return self._writer

    async def change(
        self, account_id: str, op: str, *, expect: tuple[str, ...] = (), **args: Any
    ) -> Outcome:
        """Apply one change to the account, in order with every other change to it from any
        process; return its outcome once it is applied here (ids allocated, conflicts found:
        the outcome is what every reader computes). An outcome that is an error not in
        ``expect`` raises ChangeRefused."""
        writer = self._require_writer()
        change = Change(uuid.uuid4().hex, account_id, op, args, now())
        key = ledger.change_key(account_id, change.change_id)
        value = codec().encode("AccountChange", change_record(change))
        with self._lock:
            self._waiting[change.change_id] = None
        try:
            partition, offset = await writer.produce_to(
                self.topic,
                key,
                value,
                self.settings.produce_timeout_s,
                self.partition_of(account_id),
            )
            await self._read_back(partition, offset, key, value)
            with self._lock:
                read = self._waiting[change.change_id]
        finally:
            with self._lock:
                self._waiting.pop(change.change_id, None)
        if read is None:  # read back, yet not folded: it was undecodable here
            raise TransientError(f"{self.topic}: change {change.change_id} was not applied")
        outcome, due = read
        if due:
            await self._checkpoint(account_id)
        if outcome.error is not None and outcome.error not in expect:
            raise ChangeRefused(outcome)
        return outcome

    async def _read_back(self, partition: int, offset: int, key: str, value: bytes) -> None:
        """Wait until the follower has applied the record written at ``offset``."""
        timeout = self.settings.produce_timeout_s
        if not await self.follower.wait_offset(partition, offset, timeout):
            raise TransientError(
                f"{self.topic}: {key} was written (partition {partition}, offset {offset}) but "
                f"not read back within {timeout:.0f}s; it applies all the same: read before "
                "retrying"
            )

    async def _checkpoint(self, account_id: str) -> None:
        """Write the account's state as folded here, then delete the records it makes
        obsolete. Best effort: a checkpoint that is not written costs only startup time."""
        writer = self._require_writer()
        with self._lock:
            plan = self.ledger.plan_checkpoint(account_id)
        if plan is None:
            return
        timeout, partition = self.settings.produce_timeout_s, self.partition_of(account_id)
        checkpoint = ledger.checkpoint_change(plan, now())
        obsolete = [ledger.change_key(account_id, c) for c in plan.obsolete_changes] + [
            ledger.checkpoint_key(account_id, t)
            for t in plan.obsolete_checkpoints
            if t < plan.through
        ]
        try:
            value = codec().encode("AccountChange", change_record(checkpoint))
            key = ledger.checkpoint_key(account_id, plan.through)
            await writer.produce_to(self.topic, key, value, timeout, partition)
            # Only once the checkpoint is on the topic may what it holds go.
            await asyncio.gather(
                *(writer.produce_to(self.topic, k, None, timeout, partition) for k in obsolete)
            )
        except TransientError as exc:
            log.warning("accounts topic: checkpoint of %r not written: %s", account_id, exc)

    async def _write_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Write an API key's entry whole (only ``enabled`` ever changes, so a concurrent
        writer cannot lose anything) and return it as stored, once it is read back."""
        writer = self._require_writer()
        key = entry_key(entry["kind"], entry["entry_id"])
        value = codec().encode("AccountEntry", entry)
        partition, offset = await writer.produce_to(
            self.topic, key, value, self.settings.produce_timeout_s
        )
        await self._read_back(partition, offset, key, value)
        return codec().decode("AccountEntry", value)

    async def create_account(self, account_id: str, name: str = "") -> dict[str, Any]:
        if len(name) > ledger.MAX_ACCOUNT_NAME:  # the API refuses it first; the CLI here
            raise ValueError(f"the name is longer than {ledger.MAX_ACCOUNT_NAME} characters")
        with self._lock:  # accounts are never deleted: one known here exists
            registry = self._current()
            if account_id in registry.accounts:
                raise AccountConflict(f"account {account_id!r} exists already")
            number = registry.free_number()
        outcome = await self.change(
            account_id, CREATE_ACCOUNT, expect=(EXISTS,), name=name or account_id, number=number
        )
        if outcome.error == EXISTS:
            raise AccountConflict(outcome.reason)
        return dict(outcome.value)

    async def create_key(
        self, account_id: str, label: str = "", shape: str = EVENTLINE_SHAPE
    ) -> tuple[dict[str, Any], str]:
        """A new key for ``account_id`` of ``shape`` (registry.SHAPES): the entry, and the key
        itself (shown this once)."""
        self.account(account_id)
        key_id, key = mint_key(shape)
        return await self._write_entry(key_entry(account_id, key_id, key, label, now())), key

    async def set_enabled(
        self, kind: str, account_id: str, entry_id: str, on: bool
    ) -> dict[str, Any]:
        if kind != ACCOUNT:
            entry = self.key(account_id, entry_id)
            return await self._write_entry({**entry, "enabled": on, "updated_at": now()})
        self.account(account_id)
        outcome = await self.change(account_id, SET_ENABLED, expect=(NOT_FOUND,), enabled=on)
        if outcome.error == NOT_FOUND:
            raise LookupError(outcome.reason)
        return dict(outcome.value)

    def settings_of(self, account_id: str) -> dict[str, Any]:
        """The account's settings; {} for an account that has no entry (open access)."""
        with self._lock:
            entry = self._current().accounts.get(account_id)
        loaded: dict[str, Any] = json.loads(entry["settings_json"]) if entry else {}
        return loaded

    def settings_text(self, account_id: str) -> str:
        """The account's settings as stored (JSON; "" without an entry): the same object until
        they change, so a reader can keep what it derived from them."""
        with self._lock:
            entry = self._current().accounts.get(account_id)
        return entry["settings_json"] if entry else ""

    def erased_event_types(self) -> dict[tuple[str, str], datetime]:
        """(account, event type) -> cutoff: events of that type received up to the cutoff are
        erased from analytics (an Emma event type was deleted)."""
        with self._lock:
            entries = list(self._current().accounts.values())
        erased: dict[tuple[str, str], datetime] = {}
        for entry in entries:
            for event_type, cutoff in (
                json.loads(entry["settings_json"] or "{}").get(ERASED, {}).items()
            ):
                erased[(entry["account_id"], event_type)] = datetime.fromisoformat(cutoff)
        return erased

    def account(self, account_id: str) -> dict[str, Any]:
        with self._lock:
            entry = self._current().accounts.get(account_id)
        if entry is None:
            raise LookupError(f"no account {account_id!r}")
        return entry

    def key(self, account_id: str, key_id: str) -> dict[str, Any]:
        with self._lock:
            entry = self.registry.keys.get(key_id)
        if entry is None or entry["account_id"] != account_id:
            raise LookupError(f"no API key {key_id!r} in account {account_id!r}")
        return entry

    def authenticate(self, key: str) -> str:
        with self._lock:
            return self._current().authenticate(key)

    def accounts(self) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self._current().accounts.values(), key=lambda a: a["account_id"])

    def keys_of(self, account_id: str) -> list[dict[str, Any]]:
        self.account(account_id)
        with self._lock:
            return self.registry.keys_of(account_id)


def change_record(change: Change) -> dict[str, Any]:
    """The ``AccountChange`` record of a change."""
    return {
        "change_id": change.change_id,
        "account_id": change.account_id,
        "op": change.op,
        "args_json": json.dumps(change.args, sort_keys=True),
        "at": change.at,
    }


def change_of(record: dict[str, Any]) -> Change:
    return Change(
        change_id=record["change_id"],
        account_id=record["account_id"],
        op=record["op"],
        args=json.loads(record["args_json"] or "{}"),
        at=record["at"],
    )
