"""The read side: the queries behind the gateway's status and timeline endpoints.

Every read uses FINAL so that rows not yet collapsed by a merge are never shown twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from eventline.schemas import limits
from eventline.sinks.store import Store

_INCOMING_COLUMNS = (
    "event_id, receipt_id, kind, status, process_error, source, idempotency_key, email, "
    "user_id, contact_id, name, occurred_at, received_at, updated_at, properties, value, "
    "is_syncing, attributes, attempt, account_id, event_type, route_key, "
    "unknown_contact"
)
_EVENT_COLUMNS = (
    "event_id, contact_id, name, occurred_at, received_at, processed_at, properties, value, "
    "is_syncing, source, idempotency_key, event_type"
)


def shown_json(text: str) -> dict[str, Any] | str:
    """A stored JSON column as a read shows it: the object, when it is one the gateway accepts
    today; anything else stored earlier or straight from Kafka (not JSON, not an object,
    nested past ``MAX_DEPTH``, NaN) as its text, so no stored value can fail a read."""
    try:
        value = json.loads(text or "{}")
    except (ValueError, RecursionError):
        return text
    if not isinstance(value, dict) or limits.json_violations("", value):
        return text
    return value


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
        elif key in ("properties", "attributes") and isinstance(value, str):
            value = shown_json(value)
        out[key] = value
    return out


def incoming(store: Store, account: str, event_id: str) -> list[dict[str, Any]]:
    """Every receipt of one event id, oldest first."""
    rows = store.query(
        f"SELECT {_INCOMING_COLUMNS} FROM {{db}}.incoming_events FINAL "
        "WHERE account_id = {a:String} AND event_id = {e:String} ORDER BY received_at",
        {"a": account, "e": event_id},
    )
    return [_jsonable(r) for r in rows]


def event_stored(store: Store, account: str, event_id: str) -> bool:
    """True when the canonical event has its row in ``events``."""
    rows = store.query(
        "SELECT count() AS n FROM {db}.events WHERE account_id = {a:String} "
        "AND event_id = {e:String}",
        {"a": account, "e": event_id},
    )
    return bool(rows[0]["n"])


def contact_stored(store: Store, account: str, contact_id: str) -> bool:
    """True when ``contact_id`` has its row in ``contacts`` (a new contact's registration is
    visible to reads)."""
    rows = store.query(
        "SELECT count() AS n FROM {db}.contacts WHERE account_id = {a:String} "
        "AND contact_id = {c:String}",
        {"a": account, "c": contact_id},
    )
    return bool(rows[0]["n"])


def incoming_list(
    store: Store,
    account: str,
    status: str | None,
    count: int,
    offset: int,
    since: datetime | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Incoming records, newest first; ``since``: only those whose status was set at or after
    it (what failed since a bad rule was deployed)."""
    where = "account_id = {a:String}" + (" AND status = {s:String}" if status else "")
    if since is not None:
        where += " AND updated_at >= fromUnixTimestamp64Micro({t:Int64}, 'UTC')"
    micros = round(since.timestamp() * 1_000_000) if since is not None else 0
    params = {"a": account, "s": status or "", "n": count, "o": offset, "t": micros}
    rows = store.query(
        f"SELECT {_INCOMING_COLUMNS} FROM {{db}}.incoming_events FINAL WHERE {where} "
        "ORDER BY received_at DESC LIMIT {n:UInt32} OFFSET {o:UInt32}",
        params,
    )
    total = store.query(
        f"SELECT count() AS n FROM {{db}}.incoming_events FINAL WHERE {where}", params
    )[0]["n"]
    return [_jsonable(r) for r in rows], int(total)


MERGE_DEPTH = 8  # merges followed back from a contact (a merged contact merged again, ...)


def merged_sources(store: Store, account: str, contact_id: str) -> list[str]:
    """The contacts merged into ``contact_id`` (identity merge), directly or through a
    contact merged into it in turn: their events are part of its timeline. One query per
    level, at most ``MERGE_DEPTH``; most contacts need one, answered by nothing."""
    found: list[str] = []
    seen = {contact_id}
    frontier = [contact_id]
    for _ in range(MERGE_DEPTH):
        rows = store.query(
            "SELECT contact_id FROM {db}.contacts FINAL WHERE account_id = {a:String} "
            "AND merged_into IN {f:Array(String)} ORDER BY contact_id",
            {"a": account, "f": frontier},
        )
        frontier = [r["contact_id"] for r in rows if r["contact_id"] not in seen]
        if not frontier:
            break
        found += frontier
        seen.update(frontier)
    return found


def timeline(
    store: Store, account: str, contact_id: str, count: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A contact's events, newest first, and how many there are: with those of the contacts
    merged into it (an anonymous visitor's history before they identified)."""
    ids = [contact_id, *merged_sources(store, account, contact_id)]
    params = {"a": account, "c": ids, "n": count, "o": offset}
    where = "account_id = {a:String} AND contact_id IN {c:Array(String)}"
    rows = store.query(
        f"SELECT {_EVENT_COLUMNS} FROM {{db}}.events FINAL WHERE {where} "
        "ORDER BY occurred_at DESC, event_id DESC LIMIT {n:UInt32} OFFSET {o:UInt32}",
        params,
    )
    total = store.query(f"SELECT count() AS n FROM {{db}}.events FINAL WHERE {where}", params)[0][
        "n"
    ]
    return [_jsonable(r) for r in rows], int(total)


def account_events(
    store: Store, account: str, filters: dict[str, str | None], count: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The account's canonical events, newest first, filtered by any of: ``email``,
    ``user_id``, ``contact_id``, ``name``, ``event_type``."""
    columns = {
        "email": "contact_email",
        "user_id": "contact_user_id",
        "contact_id": "contact_id",
        "name": "name",
        "event_type": "event_type",
    }
    conditions, params = ["account_id = {a:String}"], {"a": account, "n": count, "o": offset}
    for field, value in filters.items():
        if value is not None:
            conditions.append(f"{columns[field]} = {{{field}:String}}")
            params[field] = value
    where = " AND ".join(conditions)
    rows = store.query(
        f"SELECT {_EVENT_COLUMNS}, contact_email AS email, contact_user_id AS user_id "
        f"FROM {{db}}.events FINAL WHERE {where} "
        "ORDER BY occurred_at DESC, event_id DESC LIMIT {n:UInt32} OFFSET {o:UInt32}",
        params,
    )
    total = store.query(f"SELECT count() AS n FROM {{db}}.events FINAL WHERE {where}", params)
    return [_jsonable(r) for r in rows], int(total[0]["n"])


def find_contacts(
    store: Store,
    account: str,
    *,
    email: str | None = None,
    user_id: str | None = None,
    contact_id: str | None = None,
    subscriber_hash: str | None = None,
) -> list[dict[str, Any]]:
    """Contacts of ``account`` matching every identifier given (``subscriber_hash``: the MD5
    of the lower-cased email, Mailchimp's member id)."""
    conditions, params = ["account_id = {a:String}"], {"a": account}
    for column, value in (("email", email), ("user_id", user_id), ("contact_id", contact_id)):
        if value is not None:
            conditions.append(f"{column} = {{{column}:String}}")
            params[column] = value
    if subscriber_hash is not None:
        conditions.append("lower(hex(MD5(email))) = {h:String}")
        params["h"] = subscriber_hash.lower()
    if contact_id is None:
        # A contact merged into another keeps its last row (and may share its email with
        # the target): found by its id only, never in place of the contact it became.
        conditions.append("(merged_into IS NULL OR merged_into = '')")
    rows = store.query(
        "SELECT contact_id, email, user_id, attributes, tags, created_at, updated_at "
        f"FROM {{db}}.contacts FINAL WHERE {' AND '.join(conditions)} ORDER BY contact_id",
        params,
    )
    return [_jsonable(r) for r in rows]


def segment_members(
    store: Store, account: str, segment_id: str, count: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """The current members of a segment, newest first, and how many there are."""
    params = {"a": account, "s": segment_id, "n": count, "o": offset}
    where = "account_id = {a:String} AND segment_id = {s:String}"
    rows = store.query(
        "SELECT contact_id, contact_email AS email, contact_user_id AS user_id, since "
        f"FROM {{db}}.segment_members WHERE {where} "
        "ORDER BY since DESC, contact_id LIMIT {n:UInt32} OFFSET {o:UInt32}",
        params,
    )
    total = store.query(f"SELECT count() AS n FROM {{db}}.segment_members WHERE {where}", params)
    return [_jsonable(r) for r in rows], int(total[0]["n"])


def segment_sizes(store: Store, account: str) -> dict[str, int]:
    """Segment id -> current number of members, for the account's segments with any."""
    rows = store.query(
        "SELECT segment_id, count() AS n FROM {db}.segment_members "
        "WHERE account_id = {a:String} GROUP BY segment_id",
        {"a": account},
    )
    return {r["segment_id"]: int(r["n"]) for r in rows}


# A contact's member number (Emma's member_id): its id's first 13 hex digits as a number, as
# eventline.producers.dialects.emma.member_number computes it.
_MEMBER_NUMBER = (
    "reinterpretAsUInt64(reverse(unhex(concat('000', "
    "substring(replaceAll(contact_id, '-', ''), 1, 13)))))"
)


def contact_by_member_number(store: Store, account: str, number: int) -> dict[str, Any] | None:
    rows = store.query(
        "SELECT contact_id, email, user_id FROM {db}.contacts FINAL "
        f"WHERE account_id = {{a:String}} AND {_MEMBER_NUMBER} = {{m:UInt64}} LIMIT 1",
        {"a": account, "m": number},
    )
    return rows[0] if rows else None


ERASED_SOURCE = "emma"  # the dialect whose event types can be deleted with their events


def delete_events_of_type(
    store: Store, account: str, event_type: str, received_until: datetime | None = None
) -> None:
    """Remove an Emma event type's events (those received until ``received_until``, when
    given) from the events table: timelines and analytics. Only the events Emma sent: another
    dialect's events of that type (a MailerPath ``purchase``, a Mailchimp event named so) are
    not the type's."""
    sql = (
        "DELETE FROM {db}.events WHERE account_id = {a:String} AND event_type = {t:String} "
        "AND source = {s:String}"
    )
    params: dict[str, Any] = {"a": account, "t": event_type, "s": ERASED_SOURCE}
    if received_until is not None:
        sql += " AND received_at <= {c:DateTime64(6, 'UTC')}"
        params["c"] = received_until
    store.command(sql, params)
