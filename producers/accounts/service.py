"""Accounts and keys on Kafka: every gateway (and the CLI) reads the compacted accounts topic
into a ``Registry`` and writes changes to it, so every running gateway sees a new or disabled
key within moments, with no database of its own."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from typing import Any

from eventline import clock
from eventline.follow import TopicFollower
from eventline.settings import Settings
from eventline.topics import Topics
from producers.accounts.registry import (
    ACCOUNT,
    Registry,
    account_entry,
    entry_key,
    key_entry,
    mint_key,
)
from producers.kafka import KafkaWriter
from schemas.codec import codec
from schemas.model import now

log = logging.getLogger(__name__)
# Account setting: event type -> ISO time; its events received until then are erased.
ERASED = "erased_event_types"


class AccountConflict(Exception):
    """The account or key exists already, or does not exist."""


class Accounts:
    """The registry kept current from the accounts topic, and the writes to it."""

    def __init__(self, settings: Settings, writer: KafkaWriter | None = None) -> None:
        self.settings = settings
        self.topic = Topics(settings.topic_prefix).accounts
        self.registry = Registry()
        self._writer = writer
        self._lock = threading.Lock()
        self.follower = TopicFollower(
            settings.bootstrap(), self.topic, self._apply, clock.now_ms, "accounts"
        )

    # -- reading -------------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> None:
        """Read the topic up to its current end (so every existing key works), then follow it."""
        self.follower.start(timeout_s)

    def stop(self) -> None:
        self.follower.stop()

    def _apply(self, key: str, value: bytes | None) -> None:
        try:
            entry = codec().decode("AccountEntry", value) if value else None
        except Exception as exc:  # a bad record must not stop the others from applying
            log.error("accounts topic: skipping undecodable entry %r: %s", key, exc)
            return
        with self._lock:
            self.registry.apply(key, entry)

    # -- writing -------------------------------------------------------------------------

    async def _write(self, entry: dict[str, Any]) -> dict[str, Any]:
        if self._writer is None:
            raise RuntimeError("this Accounts instance only reads the accounts topic")
        key = entry_key(entry["kind"], entry["entry_id"])
        value = codec().encode("AccountEntry", entry)
        await self._writer.produce(self.topic, key, value, self.settings.produce_timeout_s)
        stored = codec().decode("AccountEntry", value)  # as every reader will see it
        with self._lock:  # read-your-writes, before the consumer sees it come back
            self.registry.apply(key, stored)
        return stored

    async def create_account(self, account_id: str, name: str = "") -> dict[str, Any]:
        with self._lock:
            if account_id in self.registry.accounts:
                raise AccountConflict(f"account {account_id!r} exists already")
            number = self.registry.free_number()
        return await self._write(account_entry(account_id, name or account_id, number, now()))

    async def create_key(self, account_id: str, label: str = "") -> tuple[dict[str, Any], str]:
        """A new key for ``account_id``: the entry, and the key itself (shown this once)."""
        self.account(account_id)
        key_id, key = mint_key()
        return await self._write(key_entry(account_id, key_id, key, label, now())), key

    async def set_enabled(
        self, kind: str, account_id: str, entry_id: str, on: bool
    ) -> dict[str, Any]:
        entry = self.account(account_id) if kind == ACCOUNT else self.key(account_id, entry_id)
        return await self._write({**entry, "enabled": on, "updated_at": now()})

    async def update_settings(self, account_id: str, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into the account's settings (dialect switches and lists)."""
        entry = self.account(account_id)
        settings = {**json.loads(entry["settings_json"] or "{}"), **changes}
        return await self._write(
            {**entry, "settings_json": json.dumps(settings, sort_keys=True), "updated_at": now()}
        )

    def settings_of(self, account_id: str) -> dict[str, Any]:
        """The account's settings; {} for an account that has no entry (open access)."""
        with self._lock:
            entry = self.registry.accounts.get(account_id)
        loaded: dict[str, Any] = json.loads(entry["settings_json"]) if entry else {}
        return loaded

    def erased_event_types(self) -> dict[tuple[str, str], datetime]:
        """(account, event type) -> cutoff: events of that type received up to the cutoff are
        erased from analytics (an Emma event type was deleted)."""
        with self._lock:
            entries = list(self.registry.accounts.values())
        erased: dict[tuple[str, str], datetime] = {}
        for entry in entries:
            for event_type, cutoff in (
                json.loads(entry["settings_json"] or "{}").get(ERASED, {}).items()
            ):
                erased[(entry["account_id"], event_type)] = datetime.fromisoformat(cutoff)
        return erased

    def account(self, account_id: str) -> dict[str, Any]:
        with self._lock:
            entry = self.registry.accounts.get(account_id)
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
            return self.registry.authenticate(key)

    def accounts(self) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self.registry.accounts.values(), key=lambda a: a["account_id"])

    def keys_of(self, account_id: str) -> list[dict[str, Any]]:
        self.account(account_id)
        with self._lock:
            return self.registry.keys_of(account_id)
