"""A small typed client for upstream services that write straight to Kafka, not over HTTP.

    from eventline.producers.client import EventlineProducer
    with EventlineProducer("127.0.0.1:19092") as producer:
        event_id = producer.send_event(name="purchase", email="ada@example.com", value=12.5,
                                       idempotency_key="order-1001")

Records go through the same validation as the gateway's, are encoded with the same Avro
schema and keyed the same way, and each call returns once Kafka acknowledged the write.
"""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Any

from eventline.core.kafka import KafkaWriter
from eventline.producers.members import ENTRY, is_member_key
from eventline.producers.validation import parse_contact, parse_event
from eventline.schemas.codec import codec
from eventline.schemas.model import alias_claims, now, routing_key

DEFAULT_ACCOUNT = "default"


class EventlineProducer:
    """Sends events and contact registrations to the incoming topic with ``acks=all``."""

    def __init__(
        self,
        bootstrap: str,
        *,
        topic_prefix: str = "eventline",
        account: str = DEFAULT_ACCOUNT,
        timeout_s: float = 10.0,
    ) -> None:
        self._writer = KafkaWriter(bootstrap, timeout_s=timeout_s)
        self._topic = f"{topic_prefix}.incoming"
        self._members = f"{topic_prefix}.members"
        self._account = account
        self._timeout_s = timeout_s

    def send_event(
        self,
        name: str,
        *,
        email: str | None = None,
        user_id: str | None = None,
        contact_id: str | None = None,
        properties: dict[str, Any] | None = None,
        value: float | None = None,
        occurred_at: datetime | None = None,
        is_syncing: bool = False,
        idempotency_key: str | None = None,
    ) -> str:
        """Send one event; returns its event_id. Raises InputRejected on invalid input."""
        data = {
            "name": name,
            "email": email,
            "user_id": user_id,
            "contact_id": contact_id,
            "properties": properties or {},
            "value": value,
            "occurred_at": occurred_at,
            "is_syncing": is_syncing,
            "idempotency_key": idempotency_key,
        }
        record = parse_event(
            {k: v for k, v in data.items() if v is not None},
            account=self._account,
            source="kafka",
            received_at=now(),
        )
        self._write(routing_key(record), record)
        return str(record["event_id"])

    def upsert_contact(
        self,
        *,
        email: str | None = None,
        user_id: str | None = None,
        contact_id: str | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> str:
        """Register or update a contact; returns the change's id."""
        data = {
            "email": email,
            "user_id": user_id,
            "contact_id": contact_id,
            "attributes": attributes or {},
        }
        record = parse_contact(
            {k: v for k, v in data.items() if v is not None},
            account=self._account,
            source="kafka",
            received_at=now(),
        )
        # Aliases first, as the gateway does: see eventline.schemas.model.alias_claims.
        claims = alias_claims(record)
        for key, claim in claims:
            self._write(key, claim)
        self._write(routing_key(record), record)
        for key, _ in claims:  # after its claim, as the gateway does: producers/members.py
            if is_member_key(key):
                self._writer.produce_sync(self._members, key, ENTRY, self._timeout_s)
        return str(record["event_id"])

    def _write(self, key: str, record: dict[str, Any]) -> None:
        value = codec().encode("IncomingRecord", record)
        self._writer.produce_sync(self._topic, key, value, self._timeout_s)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> EventlineProducer:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()
