"""Random ids: canonical version 4 UUID text, as str(uuid.uuid4()), never twice."""

from __future__ import annotations

import uuid

from eventline.producers.ids import _fresh, random_uuid


def test_canonical_version_4_text() -> None:
    for text in [*_fresh(2048), random_uuid()]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_every_variant_digit_and_no_repeats() -> None:
    ids = [random_uuid() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert {i[19] for i in ids} == set("89ab")
    assert {i[14] for i in ids} == {"4"}
