"""Two processes' RuleCatalogs writing at once to one rules log (a fake of the topic): every
write is answered with the version the fold gave it once read back, so versions are distinct
and in log order, a rule is created once, and what a reader shows is what was answered; the
rules in effect at a receipt time and rules written by an earlier version still read."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from eventline.core.clock import CLOCK
from eventline.core.settings import Settings
from eventline.schemas.codec import codec
from eventline.schemas.limits import MAX_RULE_BYTES
from eventline.schemas.rules import catalog as catalog_module
from eventline.schemas.rules.catalog import RuleCatalog, RuleConflict, RuleRejected
from eventline.schemas.rules.model import TagRule
from tests.unit.schemas.accounts.test_service import SharedLog


class FedRules(RuleCatalog):
    """A RuleCatalog whose follower is the shared log, read in order on demand."""

    def __init__(self, log: SharedLog) -> None:
        super().__init__(Settings(), writer=log)  # type: ignore[arg-type]
        self.log = log
        self.positions: dict[int, int] = {}

    async def sync(self) -> None:
        self.catch_up()

    async def _read_back(self, partition: int, offset: int, key: str, value: bytes) -> None:
        await asyncio.sleep(0)
        self.catch_up()

    def catch_up(self) -> None:
        for partition, records in self.log.partitions.items():
            for offset in range(self.positions.get(partition, 0), len(records)):
                self._apply(partition, offset, *records[offset])
            self.positions[partition] = len(records)


def tag(name: str) -> dict[str, Any]:
    return {"kind": "tag", "when": {"name": "viewed_product"}, "add": [name]}


def _added(entry: dict[str, Any]) -> list[str]:
    added: list[str] = json.loads(entry["definition_json"])["add"]
    return added


@pytest.fixture
def processes() -> tuple[SharedLog, FedRules, FedRules]:
    log = SharedLog()
    return log, FedRules(log), FedRules(log)


def _changes(log: SharedLog, rule_id: str) -> list[dict[str, Any]]:
    """The rule's changes in log order (one rule's records are on one partition)."""
    return [
        codec().decode("RuleChange", value)
        for records in log.partitions.values()
        for key, value in records
        if value is not None and key.startswith(f"change/acme/{rule_id}/")
    ]


async def test_puts_at_once_from_two_processes_get_distinct_versions_in_log_order(
    processes: tuple[SharedLog, FedRules, FedRules],
) -> None:
    log, one, other = processes
    answers = await asyncio.gather(
        *((one, other)[i % 2].put("acme", "viewers", tag(f"t{i}")) for i in range(20))
    )
    assert sorted(entry["version"] for entry, _ in answers) == list(range(1, 21))
    assert [created for _, created in answers].count(True) == 1
    # The n-th put in log order is version n, with the content it was answered with.
    order = [json.loads(c["definition_json"])["add"] for c in _changes(log, "viewers")]
    for entry, created in answers:
        assert order[entry["version"] - 1] == _added(entry)
        assert created == (entry["version"] == 1)
    newest = max((entry for entry, _ in answers), key=lambda e: e["version"])
    for process in (one, other):
        process.catch_up()
        assert process.entry("acme", "viewers") == newest


async def test_a_rule_created_at_once_by_two_processes_is_created_once(
    processes: tuple[SharedLog, FedRules, FedRules],
) -> None:
    _, one, other = processes
    answers = await asyncio.gather(
        *((one, other)[i % 2].create("acme", "once", tag(f"t{i}")) for i in range(10)),
        return_exceptions=True,
    )
    (created,) = [a for a in answers if isinstance(a, dict)]
    assert all(isinstance(a, RuleConflict) and not a.limit for a in answers if a is not created)
    assert created["version"] == 1
    for process in (one, other):
        process.catch_up()
        assert process.entry("acme", "once") == created


async def test_a_rule_deleted_at_once_by_two_processes_is_deleted_once(
    processes: tuple[SharedLog, FedRules, FedRules],
) -> None:
    _, one, other = processes
    await one.put("acme", "doomed", tag("t"))
    other.catch_up()
    answers = await asyncio.gather(
        *((one, other)[i % 2].delete("acme", "doomed") for i in range(6)),
        return_exceptions=True,
    )
    (deleted,) = [a for a in answers if isinstance(a, dict)]
    assert deleted["version"] == 2 and deleted["deleted"] is True
    assert all(isinstance(a, LookupError) for a in answers if a is not deleted)
    with pytest.raises(LookupError):
        other.entry("acme", "doomed")


async def test_a_fresh_reader_of_the_compacted_log_shows_what_was_answered(
    processes: tuple[SharedLog, FedRules, FedRules],
) -> None:
    log, one, other = processes
    await asyncio.gather(
        *((one, other)[i % 2].put("acme", f"r{i % 3}", tag(f"t{i}")) for i in range(12))
    )
    await asyncio.gather(other.delete("acme", "r0"), one.put("acme", "r1", tag("last")))
    for process in (one, other):
        process.catch_up()
    compacted = log.compacted()
    assert not any(k.startswith("change/") for p in compacted.values() for _, k, _ in p)
    fresh = FedRules(SharedLog())
    for partition, records in compacted.items():
        for offset, key, value in records:
            fresh._apply(partition, offset, key, value)
    assert fresh.entries("acme") == one.entries("acme") == other.entries("acme")


async def test_rules_written_by_an_earlier_version_read_and_change_in_order(
    processes: tuple[SharedLog, FedRules, FedRules],
) -> None:
    log, one, _ = processes
    old = {
        "account_id": "acme",
        "rule_id": "viewers",
        "kind": "tag",
        "definition_json": json.dumps(tag("old")),
        "version": 7,
        "deleted": False,
        "created_at": CLOCK.now() - timedelta(days=3),
        "updated_at": CLOCK.now() - timedelta(days=1),
    }
    stored = codec().decode("RuleEntry", codec().encode("RuleEntry", old))
    await log.produce_to(
        "eventline.rules",
        "acme/viewers",
        codec().encode("RuleEntry", old),
        1,
        one.partition_of("acme", "viewers"),
    )
    one.catch_up()
    assert one.entry("acme", "viewers") == stored
    entry, created = await one.put("acme", "viewers", tag("new"))
    assert (entry["version"], created, entry["created_at"]) == (8, False, stored["created_at"])
    with pytest.raises(RuleConflict):
        await one.create("acme", "viewers", tag("again"))


async def test_each_version_applies_to_events_received_after_it(
    processes: tuple[SharedLog, FedRules, FedRules], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, one, other = processes
    first, _ = await one.put("acme", "viewers", tag("first"))
    monkeypatch.setattr(CLOCK, "offset_ms", CLOCK.offset_ms + 60_000)
    second, _ = await other.put("acme", "viewers", tag("second"))
    one.catch_up()
    between = int(first["updated_at"].timestamp() * 1000) + 30_000
    for process in (one, other):
        (rule,) = process.snapshot("acme", between)[0].tags
        assert isinstance(rule, TagRule) and rule.add == ["first"]
        (rule,) = process.snapshot("acme")[0].tags
        assert isinstance(rule, TagRule) and rule.add == ["second"]
    assert second["version"] == 2


async def test_an_account_has_a_bounded_number_of_rules(
    processes: tuple[SharedLog, FedRules, FedRules], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog_module, "MAX_RULES", 3)
    _, one, other = processes
    for i in range(3):
        await one.put("acme", f"r{i}", tag("t"))
    with pytest.raises(RuleConflict) as full:
        await other.put("acme", "r3", tag("t"))
    assert full.value.limit and "at most 3" in full.value.reason
    with pytest.raises(RuleConflict):
        await other.create("acme", "r3", tag("t"))
    assert (await other.put("acme", "r0", tag("replaced")))[0]["version"] == 2
    await one.put("other-account", "r3", tag("t"))  # per account
    await other.delete("acme", "r1")
    assert (await one.put("acme", "r3", tag("t")))[1] is True


async def test_a_definition_past_the_record_bound_is_refused_before_anything_is_written(
    processes: tuple[SharedLog, FedRules, FedRules],
) -> None:
    log, one, _ = processes
    many = {**tag("t"), "add": [f"{i:04d}" + "x" * 95 for i in range(MAX_RULE_BYTES // 100)]}
    with pytest.raises(RuleRejected) as refused:
        await one.put("acme", "huge", many)
    assert refused.value.problems[0]["field"] == "body"
    assert f"more than {MAX_RULE_BYTES}" in refused.value.problems[0]["reason"]
    assert log.partitions == {}
