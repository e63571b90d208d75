"""Two gateways' Accounts writing at once to one accounts log (a fake of the topic): each
change is answered from the fold once read back, so both agree, nothing is lost, and ids are
allocated once; checkpoints delete what they hold without changing what a reader gets."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from eventline.core.settings import Settings
from eventline.schemas.accounts import ledger
from eventline.schemas.accounts.registry import account_entry
from eventline.schemas.accounts.service import AccountConflict, Accounts, ChangeRefused
from eventline.schemas.codec import codec


class SharedLog:
    """The accounts topic: records by partition, in order."""

    def __init__(self) -> None:
        self.partitions: dict[int, list[tuple[str, bytes | None]]] = {}

    async def produce_to(
        self,
        topic: str,
        key: str,
        value: bytes | None,
        timeout_s: float,
        partition: int | None = None,
    ) -> tuple[int, int]:
        await asyncio.sleep(0)  # let the other writers in between
        records = self.partitions.setdefault(partition or 0, [])
        records.append((key, value))
        return partition or 0, len(records) - 1

    def compacted(self) -> dict[int, list[tuple[int, str, bytes | None]]]:
        """Every partition as compaction leaves it: the last record of each key, no
        tombstones."""
        out = {}
        for partition, records in self.partitions.items():
            last = {key: offset for offset, (key, _) in enumerate(records)}
            out[partition] = [
                (offset, key, value)
                for offset, (key, value) in enumerate(records)
                if last[key] == offset and value is not None
            ]
        return out


class FedAccounts(Accounts):
    """Accounts whose follower is the shared log, read in order on demand."""

    def __init__(self, log: SharedLog) -> None:
        super().__init__(Settings(), writer=log)  # type: ignore[arg-type]
        self.log = log
        self.positions: dict[int, int] = {}

    async def _read_back(self, partition: int, offset: int, key: str, value: bytes) -> None:
        await asyncio.sleep(0)
        self.catch_up()

    def catch_up(self) -> None:
        for partition, records in self.log.partitions.items():
            for offset in range(self.positions.get(partition, 0), len(records)):
                self._apply(partition, offset, *records[offset])
            self.positions[partition] = len(records)


@pytest.fixture
def gateways() -> tuple[SharedLog, FedAccounts, FedAccounts]:
    log = SharedLog()
    return log, FedAccounts(log), FedAccounts(log)


async def _account(one: FedAccounts, other: FedAccounts) -> str:
    await one.create_account("acme")
    other.catch_up()
    return "acme"


async def test_whitelist_adds_at_once_on_two_gateways_are_all_kept(
    gateways: tuple[SharedLog, FedAccounts, FedAccounts],
) -> None:
    _, one, other = gateways
    account = await _account(one, other)
    await asyncio.gather(
        *(
            (one, other)[i % 2].change(account, ledger.ADD_EVENT_NAME, name=f"n{i}")
            for i in range(20)
        ),
        *(
            (one, other)[i % 2].change(account, ledger.SET_TRACKING, enabled=i % 2 == 0)
            for i in range(20)
        ),
        one.set_enabled("ACCOUNT", account, account, True),
    )
    for gateway in (one, other):
        gateway.catch_up()
        assert sorted(gateway.settings_of(account)["event_names"]) == sorted(
            f"n{i}" for i in range(20)
        )
    assert one.settings_of(account) == other.settings_of(account)


async def test_types_created_at_once_get_distinct_ids_and_a_duplicate_is_refused_once(
    gateways: tuple[SharedLog, FedAccounts, FedAccounts],
) -> None:
    _, one, other = gateways
    account = await _account(one, other)

    async def create(gateway: FedAccounts, name: str) -> Any:
        return await gateway.change(
            account,
            ledger.CREATE_EVENT_TYPE,
            expect=(ledger.EXISTS,),
            event_type=name,
            display_name=name,
            created_at="@D:x",
        )

    outcomes = await asyncio.gather(
        *(create((one, other)[i % 2], f"t{i}") for i in range(10)),
        *(create((one, other)[i % 2], "twice") for i in range(4)),
    )
    created = [o.value for o in outcomes if o.ok]
    assert len(created) == 11 and len({t["event_type_id"] for t in created}) == 11
    assert [o.error for o in outcomes[10:]].count(ledger.EXISTS) == 3
    for gateway in (one, other):
        gateway.catch_up()
        stored = gateway.settings_of(account)[ledger.EVENT_TYPES]
        assert sorted(stored, key=lambda t: t["event_type_id"]) == sorted(
            created, key=lambda t: t["event_type_id"]
        )


async def test_an_account_created_at_once_on_two_gateways_exists_once(
    gateways: tuple[SharedLog, FedAccounts, FedAccounts],
) -> None:
    _, one, other = gateways
    answers = await asyncio.gather(
        one.create_account("acme", "first"),
        other.create_account("acme", "second"),
        return_exceptions=True,
    )
    (created,) = [a for a in answers if isinstance(a, dict)]
    (refused,) = [a for a in answers if isinstance(a, Exception)]
    assert isinstance(refused, AccountConflict)
    for gateway in (one, other):
        gateway.catch_up()
        assert gateway.account("acme") == created


async def test_an_unexpected_outcome_is_refused(
    gateways: tuple[SharedLog, FedAccounts, FedAccounts],
) -> None:
    _, one, _ = gateways
    with pytest.raises(ChangeRefused) as refused:
        await one.change("nobody", ledger.SET_TRACKING, enabled=True)
    assert refused.value.outcome.error == ledger.NOT_FOUND


async def test_checkpoints_delete_what_they_hold_and_a_fresh_reader_gets_the_same(
    gateways: tuple[SharedLog, FedAccounts, FedAccounts], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "CHECKPOINT_EVERY", 4)
    log, one, other = gateways
    account = await _account(one, other)
    for i in range(10):
        gateway = (one, other)[i % 2]
        await gateway.change(account, ledger.ADD_EVENT_NAME, name=f"n{i}")
    await one.change(account, ledger.REMOVE_EVENT_NAME, name="n0")

    partition = one.partition_of(account)
    keys = [key for key, _ in log.partitions[partition]]
    assert sum(k.startswith("checkpoint/") for k in keys) >= 2
    fresh = FedAccounts(SharedLog())
    for p, records in log.compacted().items():
        for offset, key, value in records:
            fresh._apply(p, offset, key, value)
    assert len(log.compacted()[partition]) < 5  # the changes held by a checkpoint are gone
    one.catch_up()
    assert fresh.settings_of(account) == one.settings_of(account)
    assert fresh.settings_of(account)["event_names"] == [f"n{i}" for i in range(1, 10)]
    assert fresh.account(account) == one.account(account)


async def test_an_entry_of_an_earlier_version_is_the_base_changes_fold_on(
    gateways: tuple[SharedLog, FedAccounts, FedAccounts],
) -> None:
    log, one, _ = gateways
    earlier = {
        **account_entry("acme", "Acme", 123456789, datetime(2026, 1, 1, tzinfo=UTC)),
        "settings_json": json.dumps({"event_names": ["a"], ledger.EVENT_TYPES: []}),
    }
    await log.produce_to("t", "account/acme", codec().encode("AccountEntry", earlier), 1.0, 0)
    one.catch_up()
    assert one.account("acme")["name"] == "Acme"
    await one.change("acme", ledger.ADD_EVENT_NAME, name="b")
    assert one.settings_of("acme")["event_names"] == ["a", "b"]
