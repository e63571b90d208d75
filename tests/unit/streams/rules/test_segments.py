"""Segment membership over a contact's history: the seeds' segments, and when time alone
changes membership."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from eventline.streams.rules.segments import Condition, ContactState, Fact, evaluate, next_change

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
condition = TypeAdapter(Condition).validate_python


def _state(
    *facts: Fact, attributes: dict[str, Any] | None = None, tags: frozenset[str] = frozenset()
) -> ContactState:
    return ContactState(facts=list(facts), attributes=attributes or {}, tags=frozenset(tags))


def test_referrers_are_everyone_who_ever_registered_a_referral() -> None:
    referrers = condition({"kind": "did", "name": "registered_referral"})
    assert evaluate(referrers, _state(Fact("registered_referral", NOW - 400 * DAY)), NOW)
    assert not evaluate(referrers, _state(Fact("login", NOW)), NOW)


def test_mug_enthusiasts_viewed_mugs_twice_in_thirty_days() -> None:
    mugs = condition(
        {
            "kind": "did",
            "name": "viewed_product",
            "within_days": 30,
            "min_count": 2,
            "where": [{"property": "category", "op": "equals", "value": "Mugs"}],
        }
    )
    mug = {"category": "Mugs"}
    two = _state(
        Fact("viewed_product", NOW - DAY, properties=mug),
        Fact("viewed_product", NOW - 2 * DAY, properties=mug),
    )
    assert evaluate(mugs, two, NOW)
    one_cup = _state(
        Fact("viewed_product", NOW - DAY, properties=mug),
        Fact("viewed_product", NOW, properties={"category": "Cups"}),
    )
    assert not evaluate(mugs, one_cup, NOW)
    old = _state(
        Fact("viewed_product", NOW - 40 * DAY, properties=mug),
        Fact("viewed_product", NOW, properties=mug),
    )
    assert not evaluate(mugs, old, NOW)


def test_between_two_dates() -> None:
    november = condition(
        {
            "kind": "did",
            "name": "purchase",
            "since": "2026-11-01T00:00:00Z",
            "until": "2026-11-30T23:59:59Z",
        }
    )
    assert evaluate(november, _state(Fact("purchase", NOW - DAY)), NOW)
    assert not evaluate(november, _state(Fact("purchase", NOW - 30 * DAY)), NOW)


def test_active_in_the_last_seven_days_leaves_on_day_eight_without_any_event() -> None:
    active = condition({"kind": "did", "name": "login", "within_days": 7})
    state = _state(Fact("login", NOW))
    assert evaluate(active, state, NOW)
    leaves = next_change(active, state, NOW)
    assert leaves == NOW + 7 * DAY
    assert not evaluate(active, state, leaves)


def test_re_engagement_users_who_logged_in_once_but_not_for_fourteen_days() -> None:
    lapsed = condition(
        {
            "kind": "all",
            "conditions": [
                {"kind": "did", "name": "login"},
                {"kind": "did_not", "name": "login", "within_days": 14},
            ],
        }
    )
    state = _state(Fact("login", NOW - 10 * DAY))
    assert not evaluate(lapsed, state, NOW)
    enters = next_change(lapsed, state, NOW)
    assert enters == NOW + 4 * DAY and evaluate(lapsed, state, enters)


def test_abandoned_cart_two_hours_without_a_purchase() -> None:
    abandoned = condition(
        {"kind": "then_not", "first": "cart", "then": "purchase", "within_s": 7200}
    )
    state = _state(Fact("cart", NOW - timedelta(minutes=30)))
    assert not evaluate(abandoned, state, NOW)  # not yet two hours
    reminder = next_change(abandoned, state, NOW)
    assert reminder == NOW + timedelta(minutes=90) and evaluate(abandoned, state, reminder)
    bought = _state(
        Fact("cart", NOW - 3 * timedelta(hours=1)), Fact("purchase", NOW - timedelta(hours=2))
    )
    assert not evaluate(abandoned, bought, NOW)


def test_value_sum_attributes_tags_and_any() -> None:
    big = condition(
        {"kind": "value_sum", "name": "purchase", "within_days": 30, "op": "gte", "amount": 100}
    )
    spent = _state(
        Fact("purchase", NOW - DAY, value=60), Fact("purchase", NOW - 2 * DAY, value=45.5)
    )
    assert evaluate(big, spent, NOW) and not evaluate(
        big, _state(Fact("purchase", NOW, value=99)), NOW
    )
    pro_or_vip = condition(
        {
            "kind": "any",
            "conditions": [
                {"kind": "attribute", "test": {"property": "plan", "op": "equals", "value": "pro"}},
                {"kind": "tag", "tag": "vip"},
            ],
        }
    )
    assert evaluate(pro_or_vip, _state(attributes={"plan": "pro"}), NOW)
    assert evaluate(pro_or_vip, _state(tags=frozenset({"vip"})), NOW)
    assert not evaluate(pro_or_vip, _state(attributes={"plan": "free"}), NOW)
    assert next_change(pro_or_vip, _state(attributes={"plan": "pro"}), NOW) is None


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(ValidationError):
        condition({"kind": "maybe", "name": "x"})
