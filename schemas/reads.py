"""What the gateway reads from ClickHouse: one interface, so the gateway never reaches into the
sink's modules. ``eventline.sinks.reads.StoreReads`` implements it on the sink's Store, and the
process assembly (``eventline.processes.gateways``) hands it to the gateway app.

Rows come back JSON-able, as the API shows them: times as ISO-8601 text, ``properties`` and
``attributes`` as objects (or their text, when what is stored is not an object).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from eventline.schemas.model import incoming_record

Rows = list[dict[str, Any]]


class Reads(Protocol):
    """The gateway's reads (and the one delete Emma's API asks of the events table)."""

    def answers(self) -> bool:
        """Whether ClickHouse answers now (``/health``)."""
        ...

    def incoming(self, account: str, event_id: str) -> Rows:
        """Every receipt of one event id, oldest first."""
        ...

    def event_stored(self, account: str, event_id: str) -> bool:
        """Whether the canonical event has its row in ``events``."""
        ...

    def contact_stored(self, account: str, contact_id: str) -> bool:
        """Whether the contact has its row in ``contacts``."""
        ...

    def incoming_list(
        self,
        account: str,
        status: str | None,
        count: int,
        offset: int,
        since: datetime | None = None,
    ) -> tuple[Rows, int]:
        """Incoming records, newest first, and how many match (``since``: status set at or
        after it)."""
        ...

    def timeline(self, account: str, contact_id: str, count: int, offset: int) -> tuple[Rows, int]:
        """A contact's events (with those of contacts merged into it), newest first."""
        ...

    def account_events(
        self, account: str, filters: dict[str, str | None], count: int, offset: int
    ) -> tuple[Rows, int]:
        """The account's events, newest first, filtered by email, user_id, contact_id, name
        or event_type."""
        ...

    def find_contacts(
        self,
        account: str,
        *,
        email: str | None = None,
        user_id: str | None = None,
        contact_id: str | None = None,
        subscriber_hash: str | None = None,
    ) -> Rows:
        """Contacts matching every identifier given."""
        ...

    def contact_by_member_number(self, account: str, number: int) -> dict[str, Any] | None:
        """The contact of an Emma member number."""
        ...

    def segment_members(
        self, account: str, segment_id: str, count: int, offset: int
    ) -> tuple[Rows, int]:
        """A segment's current members, newest first."""
        ...

    def segment_sizes(self, account: str) -> dict[str, int]:
        """Segment id -> current number of members."""
        ...

    def delete_events_of_type(
        self, account: str, event_type: str, received_until: datetime | None = None
    ) -> None:
        """Remove an Emma event type's events from the events table."""
        ...


def record_from_receipt(receipt: dict[str, Any]) -> dict[str, Any]:
    """The incoming record a receipt (a row of ``Reads.incoming``) was stored from, for
    re-drive."""

    def at(value: Any) -> datetime | None:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        if parsed is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)  # ClickHouse columns are UTC
        return parsed

    received_at = at(receipt["received_at"])
    assert received_at is not None  # a stored receipt always has one
    return incoming_record(
        kind=receipt["kind"].upper(),
        account_id=receipt["account_id"],
        event_id=receipt["event_id"],
        receipt_id=receipt["receipt_id"],
        received_at=received_at,
        source=receipt["source"],
        idempotency_key=receipt["idempotency_key"],
        email=receipt["email"],
        user_id=receipt["user_id"],
        contact_id=receipt["contact_id"],
        name=receipt["name"],
        occurred_at=at(receipt["occurred_at"]),
        properties_json=_stored_text(receipt["properties"]),
        value=receipt["value"],
        is_syncing=bool(receipt["is_syncing"]),
        attributes_json=_stored_text(receipt["attributes"]),
        attempt=int(receipt["attempt"]),
        route_key=receipt.get("route_key"),
        event_type=receipt.get("event_type"),
        unknown_contact=receipt.get("unknown_contact"),
    )


def _stored_text(shown: dict[str, Any] | str) -> str:
    """The JSON text of a column as a read showed it (its text when it was kept as text)."""
    if isinstance(shown, str):
        return shown
    return json.dumps(shown, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
