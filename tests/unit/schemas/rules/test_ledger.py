"""The rule ledger: versions, ``created`` and refusals are decided by the fold in log order,
and a reader of a compacted topic (checkpoints, tombstones, entries of an earlier version)
reaches the versions and outcomes of a reader that saw every record."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventline.core.fold import INVALID, Outcome
from eventline.schemas.rules import ledger
from eventline.schemas.rules.ledger import (
    CREATE,
    DELETE,
    PUT,
    RuleChange,
    RuleLedger,
    Written,
    apply_rule_change,
    parse_key,
)

AT = datetime(2026, 11, 23, tzinfo=UTC)
RULE = ledger.rule_key("acme", "viewers")


def _change(op: str, n: int, definition: str = '{"add": ["x"]}') -> RuleChange:
    kind = "" if op == DELETE else "tag"
    body = "" if op == DELETE else definition
    return RuleChange(f"c{n}", "acme", "viewers", op, kind, body, AT + timedelta(seconds=n))


def _fold(*changes: RuleChange) -> tuple[dict[str, Any] | None, list[Outcome]]:
    entry: dict[str, Any] | None = None
    outcomes = []
    for change in changes:
        entry, outcome = apply_rule_change(entry, change)
        outcomes.append(outcome)
    return entry, outcomes


def _written(outcome: Outcome) -> tuple[int, bool, bool]:
    assert isinstance(outcome.value, Written), outcome
    entry = outcome.value.entry
    return entry["version"], entry["deleted"], outcome.value.created


def test_each_write_makes_the_next_version_and_says_whether_it_created_the_rule() -> None:
    entry, outcomes = _fold(
        _change(PUT, 1),
        _change(PUT, 2, '{"add": ["y"]}'),
        _change(DELETE, 3),
        _change(PUT, 4, '{"add": ["z"]}'),
    )
    assert [_written(o) for o in outcomes] == [
        (1, False, True),
        (2, False, False),
        (3, True, False),
        (4, False, True),  # a rule put again after its deletion is created again
    ]
    assert entry == {
        "account_id": "acme",
        "rule_id": "viewers",
        "kind": "tag",
        "definition_json": '{"add": ["z"]}',
        "version": 4,
        "deleted": False,
        "created_at": AT + timedelta(seconds=4),
        "updated_at": AT + timedelta(seconds=4),
    }
    replaced = outcomes[1].value.entry
    assert replaced["created_at"] == AT + timedelta(seconds=1)  # a replacement keeps it
    assert replaced["updated_at"] == AT + timedelta(seconds=2)
    deleted = outcomes[2].value.entry
    assert deleted["definition_json"] == '{"add": ["y"]}'  # the version it deleted


def test_a_creation_of_a_rule_that_exists_and_a_deletion_of_none_are_refused() -> None:
    entry, outcomes = _fold(
        _change(DELETE, 1),
        _change(CREATE, 2),
        _change(CREATE, 3, '{"add": ["other"]}'),
        _change(DELETE, 4),
        _change(DELETE, 5),
        _change(CREATE, 6, '{"add": ["again"]}'),
    )
    assert [o.error for o in outcomes] == [
        ledger.NOT_FOUND,
        None,
        ledger.EXISTS,
        None,
        ledger.NOT_FOUND,
        None,
    ]
    assert outcomes[2].value["version"] == 1  # what is in the way
    assert "exists already" in outcomes[2].reason
    assert entry is not None and entry["version"] == 3 and "again" in entry["definition_json"]
    assert _written(outcomes[5]) == (3, False, True)


def test_a_change_the_fold_cannot_apply_changes_nothing() -> None:
    before, _ = _fold(_change(PUT, 1))
    odd = RuleChange("c9", "acme", "viewers", "rename", "tag", "{}", AT)
    assert apply_rule_change(before, odd) == (before, Outcome(INVALID, "unknown change 'rename'"))
    broken = {"rule_id": "viewers"}  # an entry without a version
    after, outcome = apply_rule_change(broken, _change(PUT, 2))
    assert after is broken and outcome.error == INVALID


def test_keys_name_their_kind_account_and_rule() -> None:
    assert parse_key("acme/viewers") == ("entry", "acme", "viewers", "")
    assert parse_key(ledger.change_key("a.b:c", "r-1", "f00")) == ("change", "a.b:c", "r-1", "f00")
    assert parse_key(ledger.checkpoint_key("acme", "r", 41)) == ("checkpoint", "acme", "r", "41")
    # An account named like a kind: its entries of earlier versions still read as entries.
    assert parse_key("change/r") == ("entry", "change", "r", "")
    assert parse_key("what/ever/this/is/x")[0] == "other"


# --- many writers, checkpoints and compaction -------------------------------------------


@dataclass
class Record:
    offset: int
    key: str
    value: RuleChange | dict[str, Any] | None  # a change, a whole entry, or a tombstone


@dataclass
class Reader:
    """A process reading the rule's partition in order, as the catalog does."""

    ledger: RuleLedger = field(default_factory=RuleLedger)
    position: int = 0
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def read(self, log: list[Record], until: int) -> None:
        for record in log:
            if not self.position <= record.offset < until or record.value is None:
                continue
            kind, _, _, rest = parse_key(record.key)
            if isinstance(record.value, RuleChange):
                outcome, _ = self.ledger.apply(RULE, record.offset, record.value)
                self.outcomes[record.value.change_id] = outcome
            elif kind == "checkpoint":
                self.ledger.saw_checkpoint(RULE, int(rest))
                self.ledger.restore(RULE, int(rest), record.value)
            else:  # an entry of an earlier version: through its own offset
                self.ledger.restore(RULE, record.offset, record.value)
        self.position = max(self.position, until)


@dataclass
class Partition:
    log: list[Record] = field(default_factory=list)
    full: list[Record] = field(default_factory=list)  # never compacted
    end: int = 0

    def append(self, key: str, value: RuleChange | dict[str, Any] | None) -> int:
        record = Record(self.end, key, value)
        self.log.append(record)
        self.full.append(record)
        self.end += 1
        return record.offset

    def compact(self, rng: random.Random, readers: list[Reader]) -> None:
        """Kafka's cleaner with ``min.compaction.lag.ms``: only records older than the lag
        are cleaned (an older record of a key goes, a tombstone too, sometimes); no reader
        lags that much."""
        cleaned_until = max(0, self.end - LAG)
        for reader in readers:
            reader.read(self.log, max(reader.position, cleaned_until))
        last = {r.key: r.offset for r in self.log if r.offset < cleaned_until}
        self.log = [
            r
            for r in self.log
            if r.offset >= cleaned_until
            or (last[r.key] == r.offset and (r.value is not None or rng.random() < 0.5))
        ]


LAG = 8


def _random_change(rng: random.Random, n: int) -> RuleChange:
    op = rng.choice([PUT, PUT, CREATE, DELETE])
    return _change(op, n, f'{{"add": ["t{n}"]}}')


@pytest.mark.parametrize("seed", range(60))
def test_every_reader_of_a_compacted_topic_reaches_the_same_versions_and_outcomes(
    seed: int,
) -> None:
    rng = random.Random(seed)
    part = Partition()
    legacy, _ = _fold(_change(PUT, 0), _change(PUT, 0))  # version 2, by an earlier version
    part.append(RULE, legacy)
    writers = [Reader() for _ in range(3)]
    deferred: list[tuple[str, Any]] = []  # a writer's checkpoint or tombstones, not done yet
    answered: dict[str, Outcome] = {}
    in_flight: list[tuple[Reader, RuleChange, int]] = []
    for n in range(1, 300):
        step = rng.random()
        if step < 0.45:
            writer, change = rng.choice(writers), _random_change(rng, n)
            key = ledger.change_key("acme", "viewers", change.change_id)
            in_flight.append((writer, change, part.append(key, change)))
        elif step < 0.75 and in_flight:  # a writer reads back its change and answers
            writer, change, offset = in_flight.pop(rng.randrange(len(in_flight)))
            writer.read(part.log, part.end if rng.random() < 0.5 else offset + 1)
            answered[change.change_id] = writer.outcomes[change.change_id]
            plan = writer.ledger.plan_checkpoint(RULE)
            if plan is not None:
                deferred.append(("checkpoint", plan))
        elif step < 0.9 and deferred:  # slow writers: done in any order
            what, plan = deferred.pop(rng.randrange(len(deferred)))
            if what == "checkpoint":
                if plan.state is not None:
                    part.append(ledger.checkpoint_key("acme", "viewers", plan.through), plan.state)
                deferred.append(("tombstones", plan))
            else:
                for change_id in plan.obsolete_changes:
                    part.append(ledger.change_key("acme", "viewers", change_id), None)
                for through in plan.obsolete_checkpoints:
                    if through < plan.through:
                        part.append(ledger.checkpoint_key("acme", "viewers", through), None)
        elif step < 0.95:
            part.compact(rng, writers)
        elif step < 0.98:
            rng.choice(writers).read(part.log, part.end)
        else:  # a process starts: it reads what compaction left, then writes like the others
            writers.append(Reader())
            writers[-1].read(part.log, part.end)

    everything = Reader()
    everything.read(part.full, part.end)
    fresh = Reader()
    fresh.read(part.log, part.end)
    expected = everything.ledger.state(RULE)
    assert fresh.ledger.state(RULE) == expected
    for writer in writers:
        writer.read(part.log, part.end)
        assert writer.ledger.state(RULE) == expected
    for change_id, outcome in answered.items():
        assert outcome == everything.outcomes[change_id], change_id
    # Every version answered is distinct, and versions grow in log order.
    versions = [
        everything.outcomes[r.value.change_id].value.entry["version"]
        for r in part.full
        if isinstance(r.value, RuleChange) and everything.outcomes[r.value.change_id].ok
    ]
    assert versions == list(range(3, 3 + len(versions)))
    assert len(part.log) < len(part.full)  # compaction did remove records
