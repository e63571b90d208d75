"""MailerPath events: the fixed event-type vocabulary, name defaulting to the type."""

from __future__ import annotations

import pytest

from eventline.producers.dialects import mailerpath
from eventline.producers.validation import InputRejected


@pytest.mark.parametrize("event_type", mailerpath.EVENT_TYPES)
def test_every_documented_type_is_accepted_and_names_the_event(event_type: str) -> None:
    native = mailerpath.to_native({"event_type": event_type, "email": "a@b.c"})
    assert native == {"event_type": event_type, "name": event_type, "email": "a@b.c"}


def test_a_given_name_is_kept() -> None:
    assert mailerpath.to_native({"event_type": "cart", "name": "added_mug"})["name"] == "added_mug"


@pytest.mark.parametrize("item", [{}, {"event_type": ""}, {"event_type": "login"}])
def test_a_missing_or_unknown_type_names_the_field(item: dict[str, str]) -> None:
    with pytest.raises(InputRejected) as caught:
        mailerpath.to_native(item)
    assert [p.field for p in caught.value.problems] == ["event_type"]


def test_bulk_bodies_are_an_events_array_or_a_bare_array() -> None:
    assert mailerpath.bulk_items({"events": [1]}) == [1]
    assert mailerpath.bulk_items([2]) == [2]
    with pytest.raises(InputRejected):
        mailerpath.bulk_items({"events": "x"})
