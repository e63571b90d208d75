"""The account ledger: every change to an account is a record of its own on the accounts topic,
and every reader folds them in log order with the pure functions here, so every gateway,
worker and sink agrees on each account's state and on the outcome of each change.

The keyed fold, its checkpoints and why they survive compaction are ``eventline.core.fold``. Here:
a change is keyed ``change/<account>/<change id>`` on its account's partition, so one
account's changes are totally ordered; a conflict ("type exists") is an outcome of the fold,
not a lost write, and ids are allocated by the fold. A checkpoint is keyed
``checkpoint/<account>/<offset>``. An ``account/<id>`` entry written by an earlier version is
a whole state: it counts as a checkpoint through its own offset (the upgrade path).

Bounds (issue 10): a checkpoint is one Kafka message, so an account's state is bounded by
design: counts of event types and whitelisted names and the settings' stored size; a change
past them is refused by the fold (``LIMIT``). Erased types are bounded too, by letting the
oldest deletion go.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from eventline.core.fold import INVALID, CheckpointPlan, Folds, Outcome

__all__ = ["INVALID", "CheckpointPlan", "Outcome"]  # re-exported for the routes

# Account settings, as the dialects read them (tests check they agree).
EVENT_TRACKING = "event_tracking"  # ActiveCampaign: on unless switched off
EVENT_NAMES = "event_names"  # ActiveCampaign: whitelisted event names, in order of addition
EVENT_TYPES = "emma_event_types"  # Emma: member event types
NEXT_TYPE_ID = "emma_next_event_type_id"  # Emma: the next type id (ids are never reused)
ERASED = "erased_event_types"  # event type -> ISO time; its events received until then go

# Changes.
CREATE_ACCOUNT = "create_account"
SET_ENABLED = "set_enabled"
SET_TRACKING = "set_tracking"
ADD_EVENT_NAME = "add_event_name"
REMOVE_EVENT_NAME = "remove_event_name"
CREATE_EVENT_TYPE = "create_event_type"
UPDATE_EVENT_TYPE = "update_event_type"
DELETE_EVENT_TYPE = "delete_event_type"
CHECKPOINT = "checkpoint"

# Outcomes other than "applied".
EXISTS = "exists"
NOT_FOUND = "not_found"
LIMIT = "limit"  # the account is at one of the bounds below

# Bounds of an account's state: a checkpoint holds it whole in one Kafka message
# (eventline.schemas.limits.MAX_MESSAGE_BYTES), so it must stay far below that whatever the names.
MAX_ACCOUNT_NAME = 200  # characters (checked by its writers)
MAX_EVENT_TYPES = 1000  # Emma member event types
MAX_EVENT_NAMES = 1000  # ActiveCampaign whitelisted event names
# The settings but the erased types, as stored (JSON, where a non-ASCII character takes 6 or
# 12 bytes): a change that would pass it is refused.
MAX_SETTINGS_BYTES = 640 * 1024
# Deleted event types kept out of replays: past either bound the oldest deletion goes (its
# events stay deleted; only a replay of topics that old could bring them back).
MAX_ERASED = 1000
MAX_ERASED_BYTES = 160 * 1024
GROWTH_SLACK = 64  # bytes a change may add besides what it adds (a key, a separator, an id)

CHECKPOINT_EVERY = 200  # changes of an account between checkpoints


@dataclass(frozen=True)
class Change:
    """One change to one account, as written to the topic."""

    change_id: str
    account_id: str
    op: str
    args: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True)
class AccountState:
    """An account as the fold keeps it. Never mutated: each change makes a new one."""

    account_id: str
    name: str
    number: int | None
    enabled: bool
    settings: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    # At least ``stored_size()`` (None: unknown), so that a growing change
    # measures the whole only near MAX_SETTINGS_BYTES. Not part of the state.
    size_bound: int | None = field(default=None, compare=False, repr=False)

    def entry(self) -> dict[str, Any]:
        """The account as an ``AccountEntry`` record."""
        return {
            "kind": "ACCOUNT",
            "account_id": self.account_id,
            "entry_id": self.account_id,
            "name": self.name,
            "enabled": self.enabled,
            "number": self.number,
            "secret_sha256": None,
            "key_hint": None,
            "settings_json": json.dumps(self.settings, sort_keys=True),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def of_entry(cls, entry: Mapping[str, Any]) -> AccountState:
        return cls(
            account_id=entry["account_id"],
            name=entry["name"],
            number=entry["number"],
            enabled=entry["enabled"],
            settings=json.loads(entry["settings_json"] or "{}"),
            created_at=entry["created_at"],
            updated_at=entry["updated_at"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.entry().items() if k in ("name", "enabled", "number")},
            "settings": self.settings,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    @classmethod
    def of_json(cls, account_id: str, data: Mapping[str, Any]) -> AccountState:
        return cls(
            account_id=account_id,
            name=data["name"],
            number=data["number"],
            enabled=data["enabled"],
            settings=data["settings"],
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]),
        )

    def with_settings(self, at: datetime, **changes: Any) -> AccountState:
        return replace(self, settings={**self.settings, **changes}, updated_at=at, size_bound=None)

    def grown(self, at: datetime, added: Any, **changes: Any) -> AccountState | None:
        """The account with ``changes`` that add ``added`` to its settings, or None when the
        settings would be stored in more than MAX_SETTINGS_BYTES. The decision is always
        "stored size <= MAX_SETTINGS_BYTES" (the same for every reader): the bound kept
        grows by what each change adds, and the whole is measured only when it passes."""
        changed = self.with_settings(at, **changes)
        bound = self.stored_size() + len(_stored(added)) + GROWTH_SLACK
        if bound > MAX_SETTINGS_BYTES:
            bound = changed.stored_size()
            if bound > MAX_SETTINGS_BYTES:
                return None
        return replace(changed, size_bound=bound)

    def stored_size(self) -> int:
        """At least the size of the settings (but the erased types, which have bounds of
        their own) as a checkpoint stores them."""
        if self.size_bound is not None:
            return self.size_bound
        return len(_stored({k: v for k, v in self.settings.items() if k != ERASED}))


def _stored(value: Any) -> str:
    """A value as a checkpoint's ``args_json`` holds it (ASCII: characters are bytes)."""
    return json.dumps(value, sort_keys=True)


def _too_large() -> Outcome:
    reason = (
        f"the account's settings would take more than {MAX_SETTINGS_BYTES} bytes as stored "
        "(long or non-ASCII names take more): remove some first"
    )
    return Outcome(LIMIT, reason)


Fold = Callable[[AccountState | None, Change], tuple[AccountState | None, Outcome]]


def apply_change(state: AccountState | None, change: Change) -> tuple[AccountState | None, Outcome]:
    """The account after ``change``, and its outcome. Pure and total: every reader computes
    the same from the same records, and no record can stop the fold."""
    fold = FOLDS.get(change.op)
    if fold is None:
        return state, Outcome(INVALID, f"unknown change {change.op!r}")
    if state is None and change.op != CREATE_ACCOUNT:
        return None, Outcome(NOT_FOUND, f"no account {change.account_id!r}")
    try:
        return fold(state, change)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return state, Outcome(INVALID, f"malformed {change.op}: {exc!r}")


def _create_account(state: AccountState | None, change: Change) -> tuple[AccountState, Outcome]:
    if state is not None:
        return state, Outcome(
            EXISTS, f"account {change.account_id!r} exists already", state.entry()
        )
    created = AccountState(
        account_id=change.account_id,
        name=str(change.args["name"]),
        number=int(change.args["number"]),
        enabled=True,
        settings={},
        created_at=change.at,
        updated_at=change.at,
    )
    return created, Outcome(value=created.entry())


def _set_enabled(state: AccountState | None, change: Change) -> tuple[AccountState, Outcome]:
    assert state is not None
    changed = replace(state, enabled=bool(change.args["enabled"]), updated_at=change.at)
    return changed, Outcome(value=changed.entry())


def _set_tracking(state: AccountState | None, change: Change) -> tuple[AccountState, Outcome]:
    assert state is not None
    enabled = bool(change.args["enabled"])
    return state.with_settings(change.at, **{EVENT_TRACKING: enabled}), Outcome(value=enabled)


def _add_event_name(state: AccountState | None, change: Change) -> tuple[AccountState, Outcome]:
    assert state is not None
    name = str(change.args["name"])
    names = list(state.settings.get(EVENT_NAMES, []))
    if name in names:  # whitelisting a listed name again changes nothing
        return state, Outcome(value=name)
    if len(names) >= MAX_EVENT_NAMES:
        reason = f"the account has {len(names)} whitelisted event names, at most {MAX_EVENT_NAMES}"
        return state, Outcome(LIMIT, f"{reason}: remove one first")
    changed = state.grown(change.at, name, **{EVENT_NAMES: [*names, name]})
    return (changed, Outcome(value=name)) if changed else (state, _too_large())


def _remove_event_name(state: AccountState | None, change: Change) -> tuple[AccountState, Outcome]:
    assert state is not None
    name = str(change.args["name"])
    names = list(state.settings.get(EVENT_NAMES, []))
    if name not in names:
        return state, Outcome(NOT_FOUND, f"no event name {name!r}")
    kept = [n for n in names if n != name]
    return state.with_settings(change.at, **{EVENT_NAMES: kept}), Outcome(value=name)


def _types(state: AccountState) -> list[dict[str, Any]]:
    return list(state.settings.get(EVENT_TYPES, []))


def _type_named(types: list[dict[str, Any]], event_type: str) -> dict[str, Any] | None:
    return next((t for t in types if t["event_type"] == event_type), None)


def _type_numbered(types: list[dict[str, Any]], type_id: int) -> dict[str, Any] | None:
    return next((t for t in types if t["event_type_id"] == type_id), None)


def _create_event_type(state: AccountState | None, change: Change) -> tuple[AccountState, Outcome]:
    assert state is not None
    types = _types(state)
    event_type = str(change.args["event_type"])
    taken = _type_named(types, event_type)
    if taken is not None:
        return state, Outcome(EXISTS, f"event type {event_type!r} already exists", taken)
    if len(types) >= MAX_EVENT_TYPES:
        reason = f"the account has {len(types)} member event types, at most {MAX_EVENT_TYPES}"
        return state, Outcome(LIMIT, f"{reason}: delete one first")
    # Accounts from before the counter allocated max + 1; from here on, never reused.
    type_id = int(
        state.settings.get(NEXT_TYPE_ID) or max([t["event_type_id"] for t in types], default=0) + 1
    )
    created = {
        "event_type_id": type_id,
        "event_type": event_type,
        "display_name": str(change.args["display_name"]),
        "created_at": change.args["created_at"],
    }
    grown = state.grown(
        change.at, created, **{EVENT_TYPES: [*types, created], NEXT_TYPE_ID: type_id + 1}
    )
    return (grown, Outcome(value=created)) if grown else (state, _too_large())


def _update_event_type(state: AccountState | None, change: Change) -> tuple[AccountState, Outcome]:
    assert state is not None
    types = _types(state)
    type_id = int(change.args["event_type_id"])
    found = _type_numbered(types, type_id)
    if found is None:
        return state, Outcome(NOT_FOUND, f"no member event type {type_id}")
    event_type = str(change.args["event_type"])
    taken = _type_named(types, event_type)
    if taken is not None and taken is not found:
        return state, Outcome(EXISTS, f"event type {event_type!r} already exists", taken)
    updated = {**found, "event_type": event_type, "display_name": change.args["display_name"]}
    changed = state.grown(
        change.at, updated, **{EVENT_TYPES: [updated if t is found else t for t in types]}
    )
    return (changed, Outcome(value=updated)) if changed else (state, _too_large())


def _delete_event_type(state: AccountState | None, change: Change) -> tuple[AccountState, Outcome]:
    assert state is not None
    types = _types(state)
    type_id = int(change.args["event_type_id"])
    found = _type_numbered(types, type_id)
    if found is None:
        return state, Outcome(NOT_FOUND, f"no member event type {type_id}")
    remaining = [t for t in types if t is not found]
    erased = {**state.settings.get(ERASED, {}), found["event_type"]: str(change.args["cutoff"])}
    # Past a bound the oldest deletion goes (by cutoff, then name: the same for every reader,
    # whatever order its dict has). A deletion is never refused.
    while len(erased) > MAX_ERASED or len(_stored(erased)) > MAX_ERASED_BYTES:
        del erased[min(erased, key=lambda t: (erased[t], t))]
    changed = state.with_settings(change.at, **{EVENT_TYPES: remaining, ERASED: erased})
    if NEXT_TYPE_ID not in state.settings:  # keep the deleted id from being allocated again
        changed = changed.with_settings(change.at, **{NEXT_TYPE_ID: _next_id(types)})
    return changed, Outcome(value=found)


def _next_id(types: list[dict[str, Any]]) -> int:
    return max([t["event_type_id"] for t in types], default=0) + 1


FOLDS: dict[str, Fold] = {
    CREATE_ACCOUNT: _create_account,
    SET_ENABLED: _set_enabled,
    SET_TRACKING: _set_tracking,
    ADD_EVENT_NAME: _add_event_name,
    REMOVE_EVENT_NAME: _remove_event_name,
    CREATE_EVENT_TYPE: _create_event_type,
    UPDATE_EVENT_TYPE: _update_event_type,
    DELETE_EVENT_TYPE: _delete_event_type,
}


class Ledger(Folds[AccountState, Change]):
    """Every account's fold, fed with the accounts topic in log order."""

    def __init__(self) -> None:
        super().__init__(apply_change, CHECKPOINT_EVERY)

    def checkpoint_every(self) -> int:
        return CHECKPOINT_EVERY  # read each time: tests change it

    def read(self, offset: int, change: Change) -> tuple[Outcome, bool] | None:
        """Fold a record of ``AccountChange`` read at ``offset``: a checkpoint (None), or a
        change (its outcome, and whether its writer is due to write a checkpoint)."""
        if change.op != CHECKPOINT:
            return self.apply(change.account_id, offset, change)
        through, state = checkpoint_of(change)
        self.saw_checkpoint(change.account_id, through)
        self.restore(change.account_id, through, state)
        return None


def change_key(account_id: str, change_id: str) -> str:
    return f"change/{account_id}/{change_id}"


def checkpoint_key(account_id: str, through: int) -> str:
    return f"checkpoint/{account_id}/{through}"


def parse_key(key: str) -> tuple[str, str, str]:
    """(kind, account id, rest) of a key of the accounts topic: ``account/<id>``,
    ``key/<key id>`` (account id empty), ``change/<id>/<change id>``,
    ``checkpoint/<id>/<offset>``. Account ids have no ``/``."""
    kind, _, rest = key.partition("/")
    if kind in ("change", "checkpoint"):
        account_id, _, tail = rest.rpartition("/")
        return kind, account_id, tail
    if kind == "account":
        return kind, rest, ""
    return kind, "", rest


def checkpoint_change(plan: CheckpointPlan[AccountState], at: datetime) -> Change:
    """The record of a planned checkpoint (its id: the same for every writer of it)."""
    args = {
        "through": plan.through,
        "account": plan.state.to_json() if plan.state is not None else None,
    }
    return Change(f"checkpoint-{plan.through}", plan.key, CHECKPOINT, args, at)


def checkpoint_of(change: Change) -> tuple[int, AccountState | None]:
    """(through, state) of a checkpoint record."""
    data = change.args["account"]
    state = AccountState.of_json(change.account_id, data) if data is not None else None
    return int(change.args["through"]), state
