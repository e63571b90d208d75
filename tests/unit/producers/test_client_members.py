"""The producer client registers a contact's hash in the member index, after its claim."""

from __future__ import annotations

import pytest

from eventline.producers import client as client_module
from eventline.schemas.model import subscriber_hash


class RecordingWriter:
    def __init__(self, bootstrap: str, **_extra: object) -> None:
        self.written: list[tuple[str, str]] = []

    def produce_sync(self, topic: str, key: str, value: bytes, timeout_s: float) -> None:
        self.written.append((topic, key))

    def close(self) -> None:
        pass


def test_a_registration_with_an_email_goes_to_the_member_index_after_its_claim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "KafkaWriter", RecordingWriter)
    producer = client_module.EventlineProducer("x", topic_prefix="p", account="acme")
    producer.upsert_contact(email="Ada@Example.com", user_id="u-1")
    written = producer._writer.written  # type: ignore[attr-defined]
    key = f"acme/md5/{subscriber_hash('ada@example.com')}"
    assert ("p.members", key) in written
    assert written.index(("p.incoming", key)) < written.index(("p.members", key))
    assert [w for w in written if w[0] == "p.members"] == [("p.members", key)]
