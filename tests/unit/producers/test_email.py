"""The gateway's email check answers as pydantic's EmailStr (email_validator) does: the same
address, or the same refusal, whether it took the quick path or not."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError

from eventline.producers.validation import _PLAIN_EMAIL, _email

ATEXT = string.ascii_letters + string.digits + "_+-."
LABEL = string.ascii_letters + string.digits + "-"
TAILS = ["com", "org", "io", "test", "local", "localhost", "arpa", "onion", "invalid", "x", "123"]


def _answer(check: object, address: str) -> object:
    try:
        return check(address)  # type: ignore[operator]
    except PydanticCustomError as exc:
        return ("refused", str(exc))


addresses = st.builds(
    lambda local, labels, tail: f"{local}@{'.'.join([*labels, tail])}",
    st.text(ATEXT + "!#$%&'*/=?^`{|}~\" ", min_size=1, max_size=70),
    st.lists(st.text(LABEL, min_size=1, max_size=66), min_size=0, max_size=4),
    st.sampled_from(TAILS) | st.text(LABEL, min_size=1, max_size=8),
)


@settings(max_examples=3000, deadline=None)
@given(addresses)
def test_the_same_answer_as_email_validator(address: str) -> None:
    assert _answer(_email, address) == _answer(lambda a: validate_email(a)[1], address)


def test_common_addresses_take_the_quick_path() -> None:
    for address in ("ada@example.com", "Ada.Lovelace+news@Mail.Example.co.uk", "a_b-c@x-y.io"):
        assert _PLAIN_EMAIL.fullmatch(address)
        assert _email(address) == validate_email(address)[1]


def test_what_the_quick_path_leaves_to_email_validator() -> None:
    for address in ("ada@localhost.test", "ada@xn--bcher-kva.example", "ab@a--b.com", "a..b@x.com"):
        assert _answer(_email, address) == _answer(lambda a: validate_email(a)[1], address)
