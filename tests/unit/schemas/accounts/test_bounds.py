"""An account's state is bounded by design (issue 10): a checkpoint holds it whole in one Kafka
message, so the largest state the fold allows, every field at its limit and the longest,
costliest names, must encode below eventline.schemas.limits.MAX_MESSAGE_BYTES."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eventline.core.fold import Outcome
from eventline.producers.dialects.emma import MAX_DISPLAY_NAME
from eventline.schemas.accounts import ledger
from eventline.schemas.accounts.ledger import AccountState, Change, Ledger
from eventline.schemas.accounts.service import change_record
from eventline.schemas.codec import codec
from eventline.schemas.limits import MAX_MESSAGE_BYTES, TEXT_LIMITS

AT = datetime(2026, 11, 23, tzinfo=UTC)
ACCOUNT = "a" * TEXT_LIMITS["account_id"]
# An astral character is 12 bytes once stored (JSON escapes it as a surrogate pair): the
# costliest a name can be, character for character.
COSTLY = "\U0001f600"


class Account:
    """One account's fold, fed change by change as its partition would be."""

    def __init__(self, name: str) -> None:
        self.ledger = Ledger()
        self.offset = 0
        self.apply(ledger.CREATE_ACCOUNT, name=name, number=123456789)

    def apply(self, op: str, **args: Any) -> Outcome:
        self.offset += 1
        change = Change(f"c{self.offset}", ACCOUNT, op, args, AT + timedelta(seconds=self.offset))
        outcome, _ = self.ledger.apply(ACCOUNT, self.offset, change)
        return outcome

    def state(self) -> AccountState:
        state = self.ledger.state(ACCOUNT)
        assert state is not None
        return state

    def checkpoint_bytes(self) -> int:
        plan = self.ledger.plan_checkpoint(ACCOUNT)
        assert plan is not None
        record = change_record(ledger.checkpoint_change(plan, AT))
        return len(codec().encode("AccountChange", record)) + len(
            ledger.checkpoint_key(ACCOUNT, plan.through)
        )


def _text(char: str, length: int, n: int) -> str:
    """``length`` characters, unique by ``n``."""
    tag = f"{n:04d}"
    return tag + char * (length - len(tag))


def _fill(account: Account, char: str) -> dict[str, int]:
    """Erase, create and whitelist until the fold refuses: how many of each it took."""
    counts = {"erased": 0, "types": 0, "names": 0}
    for n in range(ledger.MAX_ERASED + 10):  # past the bound: the oldest deletion goes
        created = account.apply(
            ledger.CREATE_EVENT_TYPE,
            event_type=_text(char, TEXT_LIMITS["event_type"], n),
            display_name="d",
            created_at="@D:2026-11-23T00:00:00",
        )
        if not created.ok:
            break
        cutoff = (AT + timedelta(seconds=n)).isoformat()
        assert account.apply(
            ledger.DELETE_EVENT_TYPE, event_type_id=created.value["event_type_id"], cutoff=cutoff
        ).ok
    counts["erased"] = len(account.state().settings[ledger.ERASED])
    for n in range(ledger.MAX_EVENT_TYPES + 1):
        created = account.apply(
            ledger.CREATE_EVENT_TYPE,
            event_type=_text(char, TEXT_LIMITS["event_type"], 5000 + n),
            display_name=char * MAX_DISPLAY_NAME,
            created_at="@D:2026-11-23T00:00:00",
        )
        if not created.ok:
            assert created.error == ledger.LIMIT
            break
        counts["types"] += 1
    for n in range(ledger.MAX_EVENT_NAMES + 1):
        added = account.apply(ledger.ADD_EVENT_NAME, name=_text(char, TEXT_LIMITS["name"], n))
        if not added.ok:
            assert added.error == ledger.LIMIT
            break
        counts["names"] += 1
    account.apply(ledger.SET_TRACKING, enabled=False)
    return counts


def test_every_count_is_reachable_with_the_longest_plain_names_and_the_state_fits() -> None:
    account = Account("n" * 200)
    counts = _fill(account, "x")
    assert counts == {
        "erased": ledger.MAX_ERASED,
        "types": ledger.MAX_EVENT_TYPES,
        "names": ledger.MAX_EVENT_NAMES,
    }
    assert account.checkpoint_bytes() < MAX_MESSAGE_BYTES


def test_the_largest_state_of_the_costliest_names_fits_a_kafka_message() -> None:
    account = Account(COSTLY * 200)  # the longest account name the API takes
    counts = _fill(account, COSTLY)
    # The stored sizes bound them before the counts do.
    assert counts["erased"] < ledger.MAX_ERASED and counts["types"] < ledger.MAX_EVENT_TYPES
    settings = dict(account.state().settings)
    erased = settings.pop(ledger.ERASED)
    assert len(json.dumps(erased, sort_keys=True)) <= ledger.MAX_ERASED_BYTES
    assert len(json.dumps(settings, sort_keys=True)) <= ledger.MAX_SETTINGS_BYTES
    assert account.checkpoint_bytes() < MAX_MESSAGE_BYTES


def test_the_oldest_deletion_goes_first_whatever_order_a_reader_has(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ledger, "MAX_ERASED", 2)
    account = Account("acme")
    for n, cutoff in enumerate(["2026-01-03", "2026-01-01", "2026-01-02"]):
        created = account.apply(
            ledger.CREATE_EVENT_TYPE, event_type=f"t{n}", display_name="d", created_at="x"
        )
        account.apply(
            ledger.DELETE_EVENT_TYPE, event_type_id=created.value["event_type_id"], cutoff=cutoff
        )
    assert account.state().settings[ledger.ERASED] == {"t0": "2026-01-03", "t2": "2026-01-02"}


def test_a_growing_change_is_decided_by_the_stored_size_for_every_reader() -> None:
    """A reader that folded every change keeps a bound of the size; one that starts from a
    checkpoint measures it: both decide the same near the limit."""
    account = Account("acme")
    for n in range(ledger.MAX_EVENT_TYPES):
        name = _text(COSTLY, TEXT_LIMITS["event_type"], n)
        if not account.apply(
            ledger.CREATE_EVENT_TYPE, event_type=name, display_name=COSTLY, created_at="x"
        ).ok:
            break
    folded = account.state()
    restored = AccountState.of_json(ACCOUNT, json.loads(json.dumps(folded.to_json())))
    assert restored == folded and restored.size_bound is None and folded.size_bound is not None
    decisions = []
    for size in (10, 100, 1000, 10_000):
        name = "n" * size
        grown = [
            state.grown(AT, name, **{ledger.EVENT_NAMES: [name]}) for state in (folded, restored)
        ]
        assert (grown[0] is None) == (grown[1] is None)
        decisions.append(grown[0] is not None)
    assert decisions[0] and not decisions[-1]
