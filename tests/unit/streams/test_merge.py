"""eventline.streams.merge: a contact's state folded into another's, once, within the bounds (no
broker); and the identity claim that starts a merge (eventline.streams.resolve)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from eventline.schemas.model import IDENTITY
from eventline.streams import merge
from eventline.streams.automation import Limits, is_due, on_event
from eventline.streams.resolve import ALIAS, MAX_HOPS, MERGED, resolve
from eventline.streams.rules.triggers import Context
from tests.unit.streams.test_automation import (
    DAY,
    MUGS_TAG,
    NOW,
    REFERRERS,
    _contact,
    _event,
    _rules,
)

LIMITS = Limits(history_days=30, history_max_events=5, late_cutoff=DAY)
NOW_MS = int(NOW.timestamp() * 1000)
MERGE = merge.merge_id("games", "anon-1")


def _visitor() -> dict[str, Any]:
    """An anonymous visitor who viewed a mug (tagged) and referred a friend (a segment)."""
    rules = _rules(MUGS_TAG, REFERRERS)
    anon = _contact(contact_id="anon-1", email=None, user_id="anonymous:a-1", attributes_json="{}")
    mug = _event("viewed_product", "e-1", NOW - timedelta(hours=2), properties={"category": "mugs"})
    after_mug = on_event(anon, mug, rules, Context(), LIMITS, NOW).contact
    referral = _event("registered_referral", "e-2", NOW - timedelta(hours=1))
    return on_event(after_mug, referral, rules, Context(), LIMITS, NOW).contact


def _user() -> dict[str, Any]:
    rules = _rules(MUGS_TAG, REFERRERS)
    login = _event("login", "e-3", NOW - timedelta(minutes=30))
    return on_event(_contact(tags=["vip"]), login, rules, Context(), LIMITS, NOW).contact


def test_the_merge_id_is_derived_from_the_source() -> None:
    assert merge.merge_id("games", "anon-1") == MERGE
    assert merge.merge_id("games", "anon-2") != MERGE
    assert merge.merge_id("other", "anon-1") != MERGE


def test_the_source_gives_its_state_freezes_and_exits_its_segments() -> None:
    visitor = _visitor()
    assert visitor["auto"]["segments"]["referrers"][0] == 1
    frozen = merge.give(visitor, "c-1", MERGE, NOW_MS)
    assert frozen["merged_into"] == "c-1" and frozen["last_change_id"] == MERGE
    assert frozen["auto"]["segments"]["referrers"][:2] == [0, 2]
    assert is_due(frozen, "a-new-digest", NOW_MS) is None  # nothing due for a merged contact
    published = merge.given(frozen)
    assert published.contact_changed and published.contact["merged_into"] == "c-1"
    (exit_,) = published.transitions
    assert (exit_["segment_id"], exit_["transition"], exit_["seq"]) == ("referrers", "exited", 2)
    assert exit_["cause"] == "merge" and exit_["contact_id"] == "anon-1"
    again = merge.given(frozen)  # a replay publishes the same, same transition id
    assert again.transitions == published.transitions
    state = merge.state_of(frozen)
    assert state["tags"] == ["mug-enthusiast"]
    assert [f[0] for f in state["facts"]] == ["e-1", "e-2"]


def test_the_target_folds_history_tags_and_memberships_in() -> None:
    rules = _rules(MUGS_TAG, REFERRERS)
    state = merge.state_of(merge.give(_visitor(), "c-1", MERGE, NOW_MS))
    outcome = merge.fold(_user(), state, MERGE, rules, LIMITS, NOW)
    merged = outcome.contact
    assert [f[0] for f in merged["auto"]["facts"]] == ["e-1", "e-2", "e-3"]  # oldest first
    assert merged["tags"] == ["vip", "mug-enthusiast"]  # union, the target's first
    assert merged["user_id"] == "u-1" and merged["email"] == "ada@example.com"
    (tag,) = outcome.tag_changes
    assert (tag["tag"], tag["change"], tag["rule_id"]) == ("mug-enthusiast", "added", "merge")
    assert tag["event_id"] == MERGE and tag["contact_id"] == "c-1"
    (entered,) = outcome.transitions
    assert (entered["segment_id"], entered["transition"]) == ("referrers", "entered")
    assert entered["cause"] == "merge" and entered["contact_id"] == "c-1"
    assert outcome.contact_changed and outcome.triggers == []


def test_a_replayed_fold_repeats_its_messages_and_changes_nothing() -> None:
    rules = _rules(MUGS_TAG, REFERRERS)
    state = merge.state_of(merge.give(_visitor(), "c-1", MERGE, NOW_MS))
    first = merge.fold(_user(), state, MERGE, rules, LIMITS, NOW)
    replay = merge.fold(first.contact, state, MERGE, rules, LIMITS, NOW + timedelta(seconds=5))
    assert replay.tag_changes == first.tag_changes
    assert replay.transitions == first.transitions
    assert replay.contact["auto"]["facts"] == first.contact["auto"]["facts"]
    # Past the memo (32 inputs later), the fold computes again and finds nothing to change.
    forgotten = {**first.contact, "auto": {**first.contact["auto"], "memo": []}}
    late = merge.fold(forgotten, state, MERGE, rules, LIMITS, NOW + timedelta(seconds=5))
    assert late.tag_changes == [] and late.transitions == []
    assert late.contact["auto"]["facts"] == first.contact["auto"]["facts"]
    assert late.contact["tags"] == first.contact["tags"]


def test_merged_history_obeys_the_contact_bounds() -> None:
    ours = [[f"o{i}", "login", NOW_MS - i * 1000, None, None] for i in range(4)]
    theirs = [[f"t{i}", "view", NOW_MS - i * 1000 - 500, None, None] for i in range(4)]
    old = [["old", "view", NOW_MS - 40 * 86_400_000, None, None]]  # past history_days
    dup = [["o0", "login", NOW_MS, None, {"theirs": True}]]
    facts = merge.merged_facts(ours, theirs + old + dup, LIMITS, NOW)
    assert len(facts) == LIMITS.history_max_events
    assert [f[0] for f in facts] == ["t2", "o2", "t1", "o1", "t0", "o0"][-5:]
    assert facts[-1][4] is None  # an event both have: the target's copy
    assert [f[2] for f in facts] == sorted(f[2] for f in facts)


def test_attributes_the_target_lacks_come_from_the_source_within_the_bound() -> None:
    assert merge.merged_attributes('{"plan":"pro"}', '{"plan":"free","ref":"x"}') == (
        '{"plan":"pro","ref":"x"}'
    )
    huge = '{"blob":"' + "x" * 16_000 + '"}'
    assert merge.merged_attributes('{"plan":"pro","big":"' + "y" * 1000 + '"}', huge).startswith(
        '{"plan":"pro"'
    )
    assert merge.merged_attributes("{}", "not json") == "{}"


def test_fired_workflow_rules_keep_the_latest_of_each() -> None:
    target = _contact(auto={"fired": {"w1": [100, "e-a"]}})
    source = {"contact_id": "anon-1", "fired": {"w1": [200, "e-b"], "w2": [50, "e-c"]}}
    folded = merge.fold(target, source, MERGE, _rules(), LIMITS, NOW).contact
    assert folded["auto"]["fired"] == {"w1": [200, "e-b"], "w2": [50, "e-c"]}


# --- the claim that starts it (eventline.streams.resolve) -----------------------------------------

ANON, USER = "acme/user/anonymous:a-1", "acme/user/u-1"
NOTHING: dict[str, str] = {}


def _claim(receipt: str = "r-1") -> dict[str, Any]:
    return {"kind": IDENTITY, "account_id": "acme", "route_key": USER, "receipt_id": receipt}


def test_a_claim_of_a_key_with_its_own_contact_merges_that_contact() -> None:
    table = {ANON: "anon-contact"}
    res = resolve(_claim(), ANON, table.get, "create")
    assert res.merge_from == "anon-contact"
    assert res.store == {ANON: ALIAS + USER, ANON + MERGED: "anon-contact\x1fr-1"}
    table.update(res.store)
    replay = resolve(_claim(), ANON, table.get, "create")  # the same receipt: again
    assert replay.merge_from == "anon-contact"
    later = resolve(_claim("r-2"), ANON, table.get, "create")  # a later identify: once only
    assert later.merge_from is None and later.store == {ANON: ALIAS + USER}


def test_a_claim_of_an_alias_or_unknown_key_merges_nothing() -> None:
    assert resolve(_claim(), ANON, NOTHING.get, "create").merge_from is None
    aliased = {ANON: ALIAS + "acme/email/x@example.com"}
    res = resolve(_claim(), ANON, aliased.get, "create")
    assert res.merge_from is None and res.store == {ANON: ALIAS + USER}
    assert resolve({**_claim(), "route_key": ANON}, ANON, NOTHING.get, "create").store == {}


def test_a_merge_on_its_way_resolves_to_its_target_like_a_registration() -> None:
    request = {**_claim(), "merge_from": "anon-contact"}
    assert resolve(request, USER, {USER: "user-contact"}.get, "fail").contact_id == "user-contact"
    forwarded = resolve(request, USER, {USER: ALIAS + "acme/email/a@x"}.get, "fail")
    assert forwarded.forward_to == "acme/email/a@x"
    minted = resolve(request, USER, NOTHING.get, "fail")  # not an event: any policy mints
    assert minted.contact_id is not None and minted.store == {USER: minted.contact_id}


def test_a_record_forwarded_around_an_alias_loop_fails() -> None:
    loop = {ANON: ALIAS + USER, USER: ALIAS + ANON}
    event = {"kind": "EVENT", "account_id": "acme", "route_key": None, "hops": 3}
    assert resolve(event, ANON, loop.get, "create").forward_to == USER
    stuck = resolve({**event, "hops": MAX_HOPS}, ANON, loop.get, "create")
    assert stuck.forward_to is None and stuck.error is not None and "alias loop" in stuck.error


def test_aliases_both_ways_undo_the_later_claim_instead_of_looping() -> None:
    """alias(u2 -> u1) merged u2's contact into u1's; then alias(u1 -> u2): u1's claim would
    point u1 at u2, which points at u1. The merge it starts comes back to u1, which gets its
    contact back; the claim fails with the reason; later records of both reach a contact."""
    u1, u2 = "acme/user/u1", "acme/user/u2"
    table: dict[str, str] = {u1: "contact-b", u2: ALIAS + u1}  # after the first alias
    second = {**_claim("r-9"), "route_key": u2}
    res = resolve(second, u1, table.get, "create")
    assert res.merge_from == "contact-b"
    table.update(res.store)  # u1 -> @u2: a loop, until the merge comes back
    request = {**second, "merge_from": "contact-b"}
    at_u2 = resolve(request, u2, table.get, "create")
    assert at_u2.forward_to == u1  # u2 -> @u1, on u2's partition
    back = resolve({**request, "route_key": u1, "hops": 1}, u1, table.get, "create")
    assert back.error is not None and "alias loop" in back.error
    assert back.store == {u1: "contact-b"}
    table.update(back.store)
    event = {"kind": "EVENT", "account_id": "acme", "route_key": None, "hops": 0}
    assert resolve(event, u1, table.get, "create").contact_id == "contact-b"
    assert resolve(event, u2, table.get, "create").forward_to == u1
    replay = resolve(second, u1, table.get, "create")  # a replay of the claim: the same end
    assert replay.merge_from == "contact-b"
