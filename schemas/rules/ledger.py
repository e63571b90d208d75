"""The rule ledger: every write of a rule is a change of its own on the rules topic, and every
reader folds a rule's changes in log order with the pure function here into its versions, so
every gateway, CLI and worker agrees on each version and on the outcome of each write.

Why (issue 10): a writer that read version N and wrote N + 1 whole lost to a concurrent writer
that did the same (both answered N + 1; one answer then described a state never stored), and
two creations of one rule id both answered 201. The keyed fold, its checkpoints and why they
survive compaction are ``eventline.core.fold``. Here the key is the rule, ``<account>/<rule_id>``:

- ``change/<account>/<rule_id>/<change id>``: a ``RuleChange`` (put, create, delete), on the
  partition of ``<account>/<rule_id>``, so one rule's changes are totally ordered; version
  numbers, ``created`` and refusals ("exists", "not found") are decided by the fold;
- ``checkpoint/<account>/<rule_id>/<offset>``: a ``RuleEntry``, the rule folded through that
  offset; the writer of a change writes one at once, then deletes what it holds;
- ``<account>/<rule_id>``: a ``RuleEntry`` written whole by an earlier version: a checkpoint
  through its own offset (the upgrade path). It is never deleted: a writer of that earlier
  version may still write it, and a newer checkpoint outranks it anyway.

A reader of an earlier version reads every record as a ``RuleEntry``: it reads checkpoints as
the rule's versions, and a change (``change_id`` first) as a rule of an account that does not
exist, or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventline.core.fold import INVALID, Folds, Outcome

PUT = "put"  # create or replace
CREATE = "create"  # create; refused when the rule exists
DELETE = "delete"  # a deleted version; refused when there is no rule

EXISTS = "exists"
NOT_FOUND = "not_found"

RuleState = dict[str, Any]  # a RuleEntry record


@dataclass(frozen=True)
class RuleChange:
    """One write of one rule, as written to the topic."""

    change_id: str
    account_id: str
    rule_id: str
    op: str
    kind: str
    definition_json: str
    at: datetime


@dataclass(frozen=True)
class Written:
    """What an applied change stored: the new version, and whether it created the rule (a
    first version, or one after a deletion)."""

    entry: RuleState
    created: bool


def apply_rule_change(
    entry: RuleState | None, change: RuleChange
) -> tuple[RuleState | None, Outcome]:
    """The rule after ``change``, and its outcome (``value``: ``Written``, or the entry in the
    way of a creation). Pure and total: every reader computes the same from the same records."""
    where = f"rule {change.rule_id!r} of account {change.account_id!r}"
    try:
        live = entry is not None and not entry["deleted"]
        if change.op == DELETE:
            if entry is None or not live:
                return entry, Outcome(NOT_FOUND, f"no {where}")
            deleted = {
                **entry,
                "version": entry["version"] + 1,
                "deleted": True,
                "updated_at": change.at,
            }
            return deleted, Outcome(value=Written(deleted, created=False))
        if change.op not in (PUT, CREATE):
            return entry, Outcome(INVALID, f"unknown change {change.op!r}")
        if change.op == CREATE and live:
            return entry, Outcome(EXISTS, f"{where} exists already", entry)
        written = {
            "account_id": change.account_id,
            "rule_id": change.rule_id,
            "kind": str(change.kind),
            "definition_json": str(change.definition_json),
            "version": entry["version"] + 1 if entry is not None else 1,
            "deleted": False,
            "created_at": entry["created_at"] if entry is not None and live else change.at,
            "updated_at": change.at,
        }
        return written, Outcome(value=Written(written, created=not live))
    except (KeyError, TypeError, ValueError) as exc:
        return entry, Outcome(INVALID, f"malformed {change.op} of {where}: {exc!r}")


class RuleLedger(Folds[RuleState, RuleChange]):
    """Every rule's fold, fed with the rules topic in log order. A checkpoint is due after
    every change: rules change seldom, and a rule's log is then one record most of the time."""

    def __init__(self) -> None:
        super().__init__(apply_rule_change, checkpoint_every=1)


def rule_key(account_id: str, rule_id: str) -> str:
    """The rule's key: of its entries of earlier versions, and of its fold."""
    return f"{account_id}/{rule_id}"


def change_key(account_id: str, rule_id: str, change_id: str) -> str:
    return f"change/{account_id}/{rule_id}/{change_id}"


def checkpoint_key(account_id: str, rule_id: str, through: int) -> str:
    return f"checkpoint/{account_id}/{rule_id}/{through}"


def parse_key(key: str) -> tuple[str, str, str, str]:
    """(kind, account id, rule id, rest) of a key of the rules topic: ``entry`` (an
    ``<account>/<rule_id>`` of an earlier version), ``change`` or ``checkpoint``; else
    ``other``. Neither account ids nor rule ids contain ``/``."""
    parts = key.split("/")
    if len(parts) == 2:
        return "entry", parts[0], parts[1], ""
    if len(parts) == 4 and parts[0] in ("change", "checkpoint"):
        return parts[0], parts[1], parts[2], parts[3]
    return "other", "", "", ""


def change_record(change: RuleChange) -> dict[str, Any]:
    """The ``RuleChange`` record of a change."""
    return {
        "change_id": change.change_id,
        "account_id": change.account_id,
        "rule_id": change.rule_id,
        "op": change.op,
        "kind": change.kind,
        "definition_json": change.definition_json,
        "at": change.at,
    }


def change_of(record: dict[str, Any]) -> RuleChange:
    return RuleChange(
        change_id=record["change_id"],
        account_id=record["account_id"],
        rule_id=record["rule_id"],
        op=record["op"],
        kind=record["kind"],
        definition_json=record["definition_json"],
        at=record["at"],
    )
