"""Strict JSON decoding: the quick decoder (orjson) gives the value the standard library gives,
and every document it refuses gets the strict path's answer, naming the problem."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventline.producers import json_input
from eventline.producers.problems import InputRejected

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(values)
def test_the_value_the_standard_library_decodes(value: Any) -> None:
    data = json.dumps(value, ensure_ascii=False).encode()
    assert json_input.decode(data) == json.loads(data)


def test_integers_past_64_bits_stay_exact() -> None:
    assert json_input.decode(b'{"n": 123456789012345678901234567890}') == {
        "n": 123456789012345678901234567890
    }


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        (b'{"price": 1e309}', "price", "finite number"),
        (b'{"a": NaN}', "a", "finite number"),
        (b'{"a": "\\ud800"}', "a", "unpaired surrogate"),
        (b'{"a": "\xff"}', "body", "invalid UTF-8 at byte 7"),
        (b"[" * 50 + b"]" * 50, "body", "nests deeper than 40 levels"),
    ],
)
def test_refusals_name_the_problem(data: bytes, field: str, reason: str) -> None:
    with pytest.raises(InputRejected) as refused:
        json_input.decode(data)
    problem = refused.value.problems[0]
    assert problem.field == field and reason in problem.reason


answers = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(answers)
def test_answers_render_as_starlette_renders_them(content: Any) -> None:
    from fastapi.responses import JSONResponse

    from eventline.producers.gateway.events import Answer

    try:
        expected = JSONResponse(content).body
    except UnicodeEncodeError:  # an unpaired surrogate: never in an answer (refused on input)
        return
    assert Answer(content).body == expected


@settings(max_examples=500, deadline=None)
@given(values)
def test_the_depth_of_a_decoded_document_is_json_depth(value: Any) -> None:
    from eventline.schemas.limits import json_depth

    assert json_input._decoded_depth(value) == json_depth(value)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 60), st.integers(0, 60), st.sampled_from(["[", "{", "[{", "x"]))
def test_the_depth_bound_holds_with_brackets_in_strings(
    lists: int, in_text: int, bracket: str
) -> None:
    """Depth is refused past BODY_DEPTH whatever brackets strings hold (the bracket count
    only skips the walk when it cannot pass the bound)."""
    data = ("[" * lists + json.dumps(bracket * in_text) + "]" * lists).encode()
    if lists > json_input.BODY_DEPTH:
        with pytest.raises(InputRejected, match="nests deeper"):
            json_input.decode(data)
    else:
        assert json_input.decode(data) == json.loads(data)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([b"1", b"0", b"9", b"5", b"a", b" ", b"\xd9"]), max_size=60))
def test_runs_of_19_digits_are_found_as_the_pattern_finds_them(parts: list[bytes]) -> None:
    import re

    data = b"".join(parts)
    found = json_input._NINETEEN_DIGITS in data.translate(json_input._DIGITS_AS_ZERO)
    assert found == (re.search(rb"\d{19}", data) is not None)
