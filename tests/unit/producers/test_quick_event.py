"""The quick path of native events gives parse_event's record (or its refusal) for every event
it takes, leaves everything else to parse_event, and takes the plain events clients send."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventline.producers import json_input, quick_event, validation
from eventline.producers.problems import InputRejected
from eventline.producers.quick_event import STRIPPED, stored_json
from eventline.producers.validation import EventIn, parse_event

RECEIVED = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
KW: dict[str, Any] = {"account": "acme", "source": "http:json", "received_at": RECEIVED}


def outcome(parse: Any, data: Any, **kwargs: Any) -> Any:
    """The record or the problems of ``parse``, its random ids drawn from a fresh counter (so
    that both paths draw the same ids in the same order, and their records compare whole)."""
    validation_ids = validation.random_uuid
    counter = itertools.count()
    validation.random_uuid = quick_event.random_uuid = lambda: f"id-{next(counter)}"  # type: ignore[attr-defined]
    try:
        return parse(data, **{**KW, **kwargs})
    except InputRejected as exc:
        return [(p.field, p.reason, p.status) for p in exc.problems]
    finally:
        validation.random_uuid = quick_event.random_uuid = validation_ids  # type: ignore[attr-defined]


def same_as_parse_event(data: Any, **kwargs: Any) -> bool:
    """Whether the quick path took ``data``; asserts it answered as parse_event does."""
    quick = outcome(quick_event.quick_event, data, **kwargs)
    if quick is None:
        return False
    assert quick == outcome(parse_event, data, **kwargs), data
    return True


edges = st.sampled_from([" ", "\t", "\x1f", "\x00", "\u3000", "\u180e", "é", "x", ""])


def texts(longest: int) -> st.SearchStrategy[Any]:
    return (
        st.builds(
            lambda a, n, b: a + "x" * n + b,
            edges,
            st.sampled_from([0, 1, longest - 1, longest, longest + 1]),
            edges,
        )
        | st.text(max_size=12)
        | st.sampled_from([None, 1, True, ["x"], {"a": 1}])
    )


emails = st.sampled_from(
    [
        "ada@example.com",
        "Ada.Lovelace+news@Mail.Example.co.uk",
        " ada@example.com",
        "ada@example.com\n",
        "ada@localhost",
        "ada@example.test",
        "a..b@x.com",
        "ab@a--b.com",
        "ada@xn--bcher-kva.example",
        "ädä@example.com",
        "Ada <ada@example.com>",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
        "",
        "a\x00@example.com",
    ]
) | st.sampled_from([None, 3, False])
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)
properties = (
    st.dictionaries(
        st.text(max_size=4) | st.builds(lambda e, k: e + k, edges, st.text(max_size=3)),
        json_values,
        max_size=4,
    )
    | st.sampled_from([None, [], "x", {"a": "\x00"}, {"\x00": 1}, {"a": {"b\x00": 1}}])
    | st.sampled_from([{"a": "x" * 16383}, {"a": "x" * 16384}, {"a": "é" * 40000}])
    | st.sampled_from([{"a": "\\u0000"}, {"a": "[{" * 40}, {"a": 1e-7, "b": 10**30}])
    | st.just({"deep": json.loads("[" * 33 + "]" * 33)})
)
values = (
    st.none()
    | st.floats()
    | st.integers()
    | st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1, 10**400, True, "1.5", "x"])
)
TRICKY: dict[str, st.SearchStrategy[Any]] = {
    "email": emails,
    "user_id": texts(255),
    "contact_id": texts(128),
    "name": texts(200),
    "event_type": texts(100),
    "idempotency_key": texts(255),
    "occurred_at": st.sampled_from(
        [
            None,
            "2026-03-14T10:00:00Z",
            "x",
            5,
            "2021-02-30T00:00:00Z",
            "0000-01-01T00:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "2026-03-14T10:00:00",
            "2026-03-14T10:00:00+01:00",
            "2026-03-14 10:00:00Z",
            "2026-03-14T10:00:00.1234567Z",
            "1800-01-01T00:00:00Z",
            "2300-01-01T00:00:00Z",
            "2026-03-15T12:00:00Z",
            "2026-03-15T12:00:00.000001Z",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999999Z",
            "2026-03-14T10:00:00.5+00:00",
            "\uff12\uff10\uff12\uff16-03-14T10:00:00Z",
        ]
    ),
    "properties": properties,
    "value": values,
    "is_syncing": st.sampled_from([False, True, 0, 1, "true", None]),
    "extra": st.just(1),
}
plain_texts = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20
).filter(lambda t: t.strip() == t and t[0] not in STRIPPED and t[-1] not in STRIPPED)
plain_events = st.fixed_dictionaries(
    {"name": plain_texts},
    optional={
        "email": st.sampled_from(["ada@example.com", "Ada.L+x@Mail.Example.co.uk", "a_b-c@x-y.io"]),
        "user_id": plain_texts,
        "contact_id": plain_texts,
        "event_type": plain_texts,
        "idempotency_key": plain_texts,
        "properties": st.dictionaries(st.text(max_size=4), json_values, max_size=4),
        "value": st.none()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.integers(-(2**60), 2**60),
        "is_syncing": st.booleans(),
        "occurred_at": st.builds(
            lambda when, form, zone: when.strftime(form) + zone,
            st.datetimes(),
            st.sampled_from(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f"]),
            st.sampled_from(["Z", "+00:00"]),
        ),
    },
)
one_change = st.sampled_from(sorted(TRICKY)).flatmap(lambda f: TRICKY[f].map(lambda v: (f, v)))
# Plain events (the quick path takes most of them), some with one or two fields made tricky
# or dropped (it must then answer as parse_event, or leave the event to it).
events = st.builds(
    lambda base, changes, dropped: {
        k: v for k, v in {**base, **dict(changes)}.items() if k not in dropped
    },
    plain_events,
    st.lists(one_change, max_size=2),
    st.sets(st.sampled_from(["name", "email", "user_id", "contact_id"]), max_size=1),
)


@settings(max_examples=3000, deadline=None)
@given(events, st.sampled_from([None, "", "k-1", " k "]), st.sampled_from(["", "[3]."]))
def test_the_record_or_refusal_of_parse_event(
    data: dict[str, Any], header_key: str | None, prefix: str
) -> None:
    same_as_parse_event(data, idempotency_key=header_key, prefix=prefix)


def test_plain_events_take_the_quick_path() -> None:
    for data in (
        {
            "email": "Ada@Example.com",
            "name": "purchase",
            "value": 12.5,
            "properties": {"sku": "MUG-1"},
        },
        {"user_id": "u-1", "name": "viewed_product", "properties": {"i": 3, "tags": ["a"]}},
        {"contact_id": "c-1", "name": "login", "idempotency_key": "order-1", "is_syncing": True},
        {"email": "a@b.io", "name": "x", "value": 3, "event_type": "click", "properties": {}},
        {"user_id": "u", "name": "x", "occurred_at": "2021-01-01T00:00:05Z", "is_syncing": True},
    ):
        assert same_as_parse_event(data), data
        assert same_as_parse_event(data, idempotency_key="hdr", prefix="[0].")


def test_past_a_bound_it_refuses_as_parse_event_does() -> None:
    for data in (
        {"user_id": "u\x00", "name": "x"},
        {"user_id": "u", "name": "x", "properties": {"a": "y" * 70000}},
        {"user_id": "u", "name": "x", "properties": {"a\x00": 1}},
        {"user_id": "u", "name": "x", "properties": {"d": json.loads("[" * 32 + "]" * 32)}},
    ):
        assert same_as_parse_event(data, prefix="[1].")


def test_what_pydantic_strips_is_the_set_left_to_it() -> None:
    """STRIPPED is exactly what str_strip_whitespace strips, on every code point."""
    stripped = set()
    for code in itertools.chain(range(0xD800), range(0xE000, 0x110000)):
        char = chr(code)
        if EventIn.model_validate({"name": char + "x"}).name != char + "x":
            stripped.add(char)
    assert stripped == STRIPPED


@settings(max_examples=2000, deadline=None)
@given(json_values | st.floats(allow_nan=False, allow_infinity=False).map(lambda f: {"f": f}))
def test_stored_json_is_the_stdlib_text(value: Any) -> None:
    value = {"v": value}
    expected = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    assert stored_json(value) == expected


def test_stored_json_of_every_exponent() -> None:
    for exponent in range(-330, 310):
        for mantissa in (1.0, 1.5, 9.999999999999999, 2.2250738585072014):
            number = float(f"{mantissa}e{exponent}")
            if not math.isfinite(number):
                continue  # never in a decoded body (refused as not a number)
            value = {"a": number, "b": -number}
            assert stored_json(value) == json.dumps(value, separators=(",", ":"), sort_keys=True)


def test_stored_json_of_decoded_bodies_with_big_integers_and_escapes() -> None:
    body = b'{"n": 123456789012345678901234567890, "\\u00e9": "\\u0001\\n\\"", "a": [1e-7, 1e22]}'
    value = json_input.decode(body)
    expected = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    assert stored_json(value) == expected


@pytest.mark.parametrize(
    "given",
    [
        {"account": "a\x00b"},
        {"account": "a" * 128},
        {"account": "a" * 129},
        {"source": "s" * 201},
        {"source": "s\x00"},
        {"received_at": datetime(1999, 12, 31, 23, 59, tzinfo=UTC)},
        {"received_at": datetime(2000, 1, 1, tzinfo=UTC)},
        {"received_at": datetime(2026, 3, 14)},
    ],
    ids=str,
)
def test_the_bounds_of_what_the_request_gives(given: dict[str, Any]) -> None:
    """Account, source and receipt time come from the request, not the event: the quick path
    bounds them as within_limits does."""
    data = {"user_id": "u-1", "name": "x", "properties": {"a": [1, {"b": 2}]}}
    try:
        same_as_parse_event(data, **given)
    except TypeError:  # a naive receipt time: parse_event raises it too (never given one)
        with pytest.raises(TypeError):
            parse_event(data, **{**KW, **given})
