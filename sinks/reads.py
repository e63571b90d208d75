"""The gateway's reads (``eventline.schemas.reads.Reads``) on the sink's ClickHouse Store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventline.schemas.reads import Rows
from eventline.sinks import queries
from eventline.sinks.store import Store


class StoreReads:
    """``Reads`` on a Store: an embedded chDB, a server, or a link to the process that owns
    the embedded one (``eventline.sinks.store_link``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def answers(self) -> bool:
        return self.store.answers()

    def incoming(self, account: str, event_id: str) -> Rows:
        return queries.incoming(self.store, account, event_id)

    def event_stored(self, account: str, event_id: str) -> bool:
        return queries.event_stored(self.store, account, event_id)

    def contact_stored(self, account: str, contact_id: str) -> bool:
        return queries.contact_stored(self.store, account, contact_id)

    def incoming_list(
        self,
        account: str,
        status: str | None,
        count: int,
        offset: int,
        since: datetime | None = None,
    ) -> tuple[Rows, int]:
        return queries.incoming_list(self.store, account, status, count, offset, since)

    def timeline(self, account: str, contact_id: str, count: int, offset: int) -> tuple[Rows, int]:
        return queries.timeline(self.store, account, contact_id, count, offset)

    def account_events(
        self, account: str, filters: dict[str, str | None], count: int, offset: int
    ) -> tuple[Rows, int]:
        return queries.account_events(self.store, account, filters, count, offset)

    def find_contacts(
        self,
        account: str,
        *,
        email: str | None = None,
        user_id: str | None = None,
        contact_id: str | None = None,
        subscriber_hash: str | None = None,
    ) -> Rows:
        return queries.find_contacts(
            self.store,
            account,
            email=email,
            user_id=user_id,
            contact_id=contact_id,
            subscriber_hash=subscriber_hash,
        )

    def contact_by_member_number(self, account: str, number: int) -> dict[str, Any] | None:
        return queries.contact_by_member_number(self.store, account, number)

    def segment_members(
        self, account: str, segment_id: str, count: int, offset: int
    ) -> tuple[Rows, int]:
        return queries.segment_members(self.store, account, segment_id, count, offset)

    def segment_sizes(self, account: str) -> dict[str, int]:
        return queries.segment_sizes(self.store, account)

    def delete_events_of_type(
        self, account: str, event_type: str, received_until: datetime | None = None
    ) -> None:
        queries.delete_events_of_type(self.store, account, event_type, received_until)
