"""The account ledger: each change's outcome is decided by the fold, ids are allocated once,
and a reader of a compacted topic (checkpoints, tombstones) reaches the state and outcomes of
a reader that saw every record."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventline.producers.dialects import activecampaign as ac
from eventline.producers.dialects import emma
from eventline.schemas.accounts import ledger
from eventline.schemas.accounts.ledger import (
    AccountState,
    Change,
    Ledger,
    Outcome,
    apply_change,
    parse_key,
)
from eventline.schemas.accounts.registry import account_entry

AT = datetime(2026, 11, 23, tzinfo=UTC)


def _change(op: str, n: int = 0, account: str = "acme", **args: Any) -> Change:
    return Change(f"c{n}-{op}", account, op, args, AT + timedelta(seconds=n))


def _fold(*changes: Change) -> tuple[AccountState | None, list[Outcome]]:
    state: AccountState | None = None
    outcomes = []
    for change in changes:
        state, outcome = apply_change(state, change)
        outcomes.append(outcome)
    return state, outcomes


CREATED = _change(ledger.CREATE_ACCOUNT, name="Acme", number=123456789)


def _type(n: int, name: str) -> Change:
    return _change(
        ledger.CREATE_EVENT_TYPE, n, event_type=name, display_name=name.title(), created_at="@D:x"
    )


def test_the_dialects_read_the_settings_the_fold_writes() -> None:
    state, _ = _fold(
        CREATED,
        _change(ledger.SET_TRACKING, 1, enabled=False),
        _change(ledger.ADD_EVENT_NAME, 2, name="login"),
        _type(3, "visited"),
    )
    assert state is not None
    assert ac.tracking_enabled(state.settings) is False
    assert ac.whitelist(state.settings) == ["login"]
    assert [t["event_type"] for t in emma.event_types(state.settings)] == ["visited"]


def test_a_second_creation_of_an_account_is_refused_and_changes_nothing() -> None:
    again = _change(ledger.CREATE_ACCOUNT, 1, name="Other", number=987654321)
    state, outcomes = _fold(CREATED, again)
    assert outcomes[0].ok and outcomes[0].value["number"] == 123456789
    assert outcomes[1].error == ledger.EXISTS and "exists already" in outcomes[1].reason
    assert state is not None and (state.name, state.number) == ("Acme", 123456789)


def test_changes_to_a_missing_account_are_not_found() -> None:
    state, (outcome,) = _fold(_change(ledger.ADD_EVENT_NAME, name="x"))
    assert state is None and outcome.error == ledger.NOT_FOUND


def test_whitelist_adds_are_kept_in_order_and_a_listed_name_is_added_once() -> None:
    adds = [_change(ledger.ADD_EVENT_NAME, i, name=n) for i, n in enumerate("abca", 1)]
    state, outcomes = _fold(CREATED, *adds)
    assert all(o.ok for o in outcomes)
    assert state is not None and state.settings[ledger.EVENT_NAMES] == ["a", "b", "c"]


def test_removing_a_name_not_listed_is_not_found() -> None:
    state, outcomes = _fold(
        CREATED,
        _change(ledger.ADD_EVENT_NAME, 1, name="a"),
        _change(ledger.REMOVE_EVENT_NAME, 2, name="a"),
        _change(ledger.REMOVE_EVENT_NAME, 3, name="a"),
    )
    assert [o.error for o in outcomes[2:]] == [None, ledger.NOT_FOUND]
    assert state is not None and state.settings[ledger.EVENT_NAMES] == []


def test_event_type_ids_are_allocated_in_log_order_and_never_reused() -> None:
    state, outcomes = _fold(
        CREATED,
        _type(1, "a"),
        _type(2, "b"),
        _type(3, "a"),  # exists
        _change(ledger.DELETE_EVENT_TYPE, 4, event_type_id=2, cutoff="2026-11-23T00:00:04"),
        _type(5, "c"),
    )
    ids = [o.value["event_type_id"] if o.ok else o.error for o in outcomes[1:]]
    assert ids == [1, 2, ledger.EXISTS, 2, 3]
    assert outcomes[3].value["event_type"] == "a"  # the type in the way
    assert state is not None
    assert [(t["event_type_id"], t["event_type"]) for t in state.settings[ledger.EVENT_TYPES]] == [
        (1, "a"),
        (3, "c"),
    ]
    assert state.settings[ledger.ERASED] == {"b": "2026-11-23T00:00:04"}


def test_an_account_of_an_earlier_version_allocates_after_its_highest_id_even_after_a_delete() -> (
    None
):
    legacy = AccountState.of_entry(
        {
            **account_entry("acme", "Acme", 123456789, AT),
            "settings_json": json.dumps(
                {ledger.EVENT_TYPES: [{"event_type_id": 7, "event_type": "a"}]}
            ),
        }
    )
    delete = _change(ledger.DELETE_EVENT_TYPE, 1, event_type_id=7, cutoff="c")
    state, deleted = apply_change(legacy, delete)
    assert deleted.ok
    state, created = apply_change(state, _type(2, "b"))
    assert created.value["event_type_id"] == 8


def test_renaming_a_type_keeps_its_id_and_refuses_a_taken_name() -> None:
    rename = {"event_type": "b", "display_name": "B"}
    _, outcomes = _fold(
        CREATED,
        _type(1, "a"),
        _type(2, "z"),
        _change(ledger.UPDATE_EVENT_TYPE, 3, event_type_id=1, **rename),
        _change(ledger.UPDATE_EVENT_TYPE, 4, event_type_id=2, **rename),
        _change(ledger.UPDATE_EVENT_TYPE, 5, event_type_id=9, **rename),
    )
    assert outcomes[3].value["event_type_id"] == 1 and outcomes[3].value["event_type"] == "b"
    assert [o.error for o in outcomes[4:]] == [ledger.EXISTS, ledger.NOT_FOUND]


def test_switches_and_enable_apply_without_touching_other_settings() -> None:
    state, outcomes = _fold(
        CREATED,
        _change(ledger.ADD_EVENT_NAME, 1, name="a"),
        _change(ledger.SET_ENABLED, 2, enabled=False),
        _change(ledger.SET_TRACKING, 3, enabled=False),
    )
    assert outcomes[2].value["enabled"] is False and outcomes[3].value is False
    assert state is not None and state.settings == {
        ledger.EVENT_NAMES: ["a"],
        ledger.EVENT_TRACKING: False,
    }
    assert state.updated_at == AT + timedelta(seconds=3)


@pytest.mark.parametrize(
    "change",
    [
        _change("drop_everything", 1),
        _change(ledger.CREATE_EVENT_TYPE, 1, event_type="a"),  # no display_name
        _change(ledger.UPDATE_EVENT_TYPE, 1, event_type_id="x", event_type="a", display_name="A"),
    ],
)
def test_an_unknown_or_malformed_change_is_an_outcome_not_a_crash(change: Change) -> None:
    state, outcomes = _fold(CREATED, change)
    assert outcomes[1].error == ledger.INVALID
    assert state == _fold(CREATED)[0]


def test_keys_of_the_topic() -> None:
    assert parse_key("account/acme") == ("account", "acme", "")
    assert parse_key("key/0123456789ab") == ("key", "", "0123456789ab")
    assert parse_key(ledger.change_key("a.b:c", "f00")) == ("change", "a.b:c", "f00")
    assert parse_key(ledger.checkpoint_key("acme", 41)) == ("checkpoint", "acme", "41")


def test_a_state_survives_a_checkpoint_unchanged() -> None:
    state, _ = _fold(CREATED, _type(1, "a"), _change(ledger.SET_ENABLED, 2, enabled=False))
    assert state is not None
    assert AccountState.of_json("acme", json.loads(json.dumps(state.to_json()))) == state


# --- many writers, checkpoints and compaction -------------------------------------------


@dataclass
class Record:
    offset: int
    key: str
    value: Change | AccountState | None  # None: a tombstone


@dataclass
class Reader:
    """A process reading the partition in order, as the service does."""

    ledger: Ledger = field(default_factory=Ledger)
    position: int = 0
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    due: list[str] = field(default_factory=list)

    def read(self, log: list[Record], until: int) -> None:
        for record in log:
            if not self.position <= record.offset < until:
                continue
            kind, account_id, _ = parse_key(record.key)
            if kind == "account":
                assert not isinstance(record.value, Change)
                self.ledger.restore(account_id, record.offset, record.value)
            elif isinstance(record.value, Change):
                read = self.ledger.read(record.offset, record.value)
                if read is not None:
                    self.outcomes[record.value.change_id] = read[0]
                    if read[1]:
                        self.due.append(record.value.change_id)
        self.position = max(self.position, until)


@dataclass
class Partition:
    log: list[Record] = field(default_factory=list)
    full: list[Record] = field(default_factory=list)  # never compacted
    end: int = 0

    def append(self, key: str, value: Change | AccountState | None) -> int:
        record = Record(self.end, key, value)
        self.log.append(record)
        self.full.append(record)
        self.end += 1
        return record.offset

    def compact(self, rng: random.Random, readers: list[Reader]) -> None:
        """Kafka's cleaner with ``min.compaction.lag.ms``: only records older than the lag
        are cleaned, and only by records older than the lag (an older record of a key goes,
        and a tombstone too once its retention passed). No reader lags that much: each has
        read the cleaned part before."""
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


LAG = 8  # records written within the compaction lag

NAMES = ["a", "b", "c", "d"]


def _random_change(rng: random.Random, n: int) -> Change:
    op = rng.choice(
        [
            ledger.ADD_EVENT_NAME,
            ledger.REMOVE_EVENT_NAME,
            ledger.CREATE_EVENT_TYPE,
            ledger.UPDATE_EVENT_TYPE,
            ledger.DELETE_EVENT_TYPE,
            ledger.SET_TRACKING,
            ledger.SET_ENABLED,
        ]
    )
    name = rng.choice(NAMES)
    args: dict[str, Any] = {
        ledger.ADD_EVENT_NAME: {"name": name},
        ledger.REMOVE_EVENT_NAME: {"name": name},
        ledger.CREATE_EVENT_TYPE: {"event_type": name, "display_name": name, "created_at": "t"},
        ledger.UPDATE_EVENT_TYPE: {
            "event_type_id": rng.randint(1, 8),
            "event_type": name,
            "display_name": name.upper(),
        },
        ledger.DELETE_EVENT_TYPE: {"event_type_id": rng.randint(1, 8), "cutoff": f"t{n}"},
        ledger.SET_TRACKING: {"enabled": rng.random() < 0.5},
        ledger.SET_ENABLED: {"enabled": rng.random() < 0.5},
    }[op]
    return Change(f"w{n}", "acme", op, args, AT + timedelta(seconds=n))


@pytest.mark.parametrize("seed", range(60))
def test_every_reader_of_a_compacted_topic_reaches_the_same_state_and_outcomes(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "CHECKPOINT_EVERY", 3)
    rng = random.Random(seed)
    part = Partition()
    legacy = AccountState.of_entry(
        {
            **account_entry("acme", "Acme", 123456789, AT),
            "settings_json": json.dumps(
                {ledger.EVENT_TYPES: [{"event_type_id": 2, "event_type": "b"}]}
            ),
        }
    )
    part.append("account/acme", legacy)  # written by an earlier version
    writers = [Reader() for _ in range(3)]
    # Work a writer has decided on but not done yet: checkpoints, then their tombstones.
    deferred: list[tuple[str, Any]] = []
    answered: dict[str, Outcome] = {}
    in_flight: list[tuple[Reader, Change, int]] = []
    for n in range(300):
        step = rng.random()
        if step < 0.45:
            writer, change = rng.choice(writers), _random_change(rng, n)
            in_flight.append(
                (writer, change, part.append(ledger.change_key("acme", change.change_id), change))
            )
        elif step < 0.75 and in_flight:  # a writer reads back its change and answers
            writer, change, offset = in_flight.pop(rng.randrange(len(in_flight)))
            writer.read(part.log, part.end if rng.random() < 0.5 else offset + 1)
            answered[change.change_id] = writer.outcomes[change.change_id]
            if change.change_id in writer.due:
                plan = writer.ledger.plan_checkpoint("acme")
                if plan is not None:  # else a checkpoint read since holds everything
                    deferred.append(("checkpoint", plan))
        elif step < 0.9 and deferred:  # slow writers: done in any order
            what, plan = deferred.pop(rng.randrange(len(deferred)))
            if what == "checkpoint":
                change = ledger.checkpoint_change(plan, AT)
                part.append(ledger.checkpoint_key("acme", plan.through), change)
                deferred.append(("tombstones", plan))
            else:
                for change_id in plan.obsolete_changes:
                    part.append(ledger.change_key("acme", change_id), None)
                for through in plan.obsolete_checkpoints:
                    if through < plan.through:
                        part.append(ledger.checkpoint_key("acme", through), None)
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
    expected = everything.ledger.state("acme")
    assert fresh.ledger.state("acme") == expected
    for writer in writers:
        writer.read(part.log, part.end)
        assert writer.ledger.state("acme") == expected
    for change_id, outcome in answered.items():
        assert outcome == everything.outcomes[change_id], change_id
    assert len(part.log) < len(part.full)  # compaction did remove records
