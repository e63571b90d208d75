"""Property-based tests of every dialect's parser (producers/dialects/*.py) and the native
validation (producers/validation.py): whatever a client sends, each either refuses it with
InputRejected or builds a record that is within eventline.schemas.limits and encodes; nothing
else."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eventline.producers import json_input
from eventline.producers.dialects import activecampaign as ac
from eventline.producers.dialects import emma, mailchimp, mailerpath, segment
from eventline.producers.validation import (
    InputRejected,
    form_to_dict,
    parse_contact,
    parse_event,
    rejected_record,
)
from eventline.schemas import limits
from eventline.schemas.codec import codec

PROFILE = settings.get_profile("eventline-fuzz")
RECEIVED = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
KW: dict[str, Any] = {"account": "acme", "source": "fuzz", "received_at": RECEIVED}

# Values that broke the gateway before, drawn as often as all the others together.
NASTY = [
    "",
    "\x00",
    "a\x00b",
    float("nan"),
    float("inf"),
    float("-inf"),
    2**64,
    -1,
    True,
    "x" * 300,
    "a@b.co",
    "2026-03-14T11:00:00Z",
    "@D:0001-01-01T00:00:00",
    [],
    {},
]
scalars = st.sampled_from(NASTY) | (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
times = st.one_of(
    st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
    st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-14:00", "not a time"]),
)


def objects(*fields: str, valid: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    """Objects with some of ``fields`` (any JSON value, or a time for time-like fields), half
    of them over a ``valid`` base so that the parsers' later steps are reached too; and any
    JSON value at all."""
    values = {
        f: (times | json_values) if "time" in f.lower() or f.endswith("At") else json_values
        for f in fields
    }
    some = st.fixed_dictionaries({}, optional=values)
    over_valid = some.map(lambda changed: {**(valid or {}), **changed})
    return some | over_valid | json_values


def _stored(record: dict[str, Any]) -> None:
    """A record the gateway would write: within every bound, and encodable."""
    assert limits.record_violations(record, RECEIVED) == []
    codec().encode("IncomingRecord", record)


def _native(build: Any) -> None:
    """Run a dialect mapping then the native validation; only InputRejected may come out."""
    try:
        native = build()
        record = parse_event(native, **KW)
    except InputRejected as exc:
        assert exc.problems and all(p.field for p in exc.problems)
        return
    _stored(record)


EVENT_FIELDS = (
    "email",
    "user_id",
    "contact_id",
    "name",
    "event_type",
    "occurred_at",
    "properties",
    "value",
    "is_syncing",
    "idempotency_key",
)


@settings(PROFILE)
@given(objects(*EVENT_FIELDS, valid={"email": "a@b.co", "name": "x"}))
def test_parse_event(data: Any) -> None:
    _native(lambda: data)


@settings(PROFILE)
@given(objects("email", "user_id", "contact_id", "attributes", valid={"email": "a@b.co"}))
def test_parse_contact(data: Any) -> None:
    try:
        record = parse_contact(data, **KW)
    except InputRejected:
        return
    _stored(record)


@settings(PROFILE)
@given(json_values)
def test_rejected_records_are_always_storable(data: Any) -> None:
    _stored(rejected_record(data, **KW))


@settings(PROFILE)
@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40)))
def test_form_to_dict(form: dict[str, str]) -> None:
    try:
        data = form_to_dict(form)
    except InputRejected:
        return
    _native(lambda: data)


@settings(PROFILE)
@given(st.binary(max_size=200) | st.text(max_size=200))
def test_json_input_decodes_or_refuses(data: bytes | str) -> None:
    try:
        json_input.decode(data)
    except InputRejected as exc:
        assert exc.problems[0].field


@settings(PROFILE)
@given(
    objects(
        "userId",
        "anonymousId",
        "event",
        "properties",
        "traits",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "messageId",
        "type",
        "name",
        "category",
        "groupId",
        "previousId",
        valid={"userId": "u-1", "event": "Viewed"},
    )
)
def test_segment(message: Any) -> None:
    _native(lambda: segment.track_to_native(message, RECEIVED))
    for kind in segment.TYPES:
        try:
            native = segment.to_native(kind, message, RECEIVED)
            parse = parse_event if native.kind == "event" else parse_contact
            record = parse(native.data, **KW)
        except InputRejected as exc:
            # every problem is named in Segment's terms
            for problem in exc.problems:
                named = segment.client_field(problem.field, kind, message)
                assert named.partition(".")[0] not in NATIVE_ONLY, (kind, problem)
        else:
            _stored(record)
    with contextlib.suppress(InputRejected):
        segment.batch_items(message)


NATIVE_ONLY = {"user_id", "idempotency_key", "occurred_at", "attributes", "email", "value"}


TYPES = [
    {
        "event_type_id": 1,
        "event_type": "visit",
        "display_name": "Visit",
        "created_at": "@D:2026-01-01T00:00:00",
    }
]


@settings(PROFILE)
@given(
    objects(
        "email",
        "member_id",
        "event_type",
        "event_type_id",
        "attributes",
        "event_monetary_value",
        "event_timestamp",
        "mailing_id",
        valid={"email": "a@b.co", "event_type": "visit"},
    )
)
def test_emma(item: Any) -> None:
    def build() -> dict[str, Any]:
        native, _ = emma.to_native(item, TYPES)
        return {**native, "email": item.get("email") if isinstance(item, dict) else None}

    _native(build)
    for call in (lambda: emma.member_events(item), lambda: emma.check_type_body(item)):
        with contextlib.suppress(InputRejected):
            call()


@settings(PROFILE)
@given(
    objects("name", "properties", "occurred_at", "is_syncing", valid={"name": "viewed"}),
    st.text(max_size=40),
)
def test_mailchimp(body: Any, member: str) -> None:
    named = mailchimp.member_identity("acme", member)
    if named is None:  # names no member: 404, nothing parsed
        assert mailchimp.member_hash(member) is None
        return
    identity, route_key = named
    try:
        native = mailchimp.to_native(body, identity)
        record = parse_event(native, route_key=route_key, **KW)
    except InputRejected:
        return
    _stored(record)


@settings(PROFILE)
@given(
    objects(
        "email_address",
        "status",
        "status_if_new",
        "merge_fields",
        valid={"email_address": "a@b.co", "status": "subscribed"},
    ),
    st.sampled_from([None, "0" * 32]),
    st.sampled_from([None, True, False]),
)
def test_mailchimp_member(body: Any, hash_in_path: str | None, known: bool | None) -> None:
    try:
        native = mailchimp.to_contact(body, "l1", hash_in_path=hash_in_path, known=known)
        parse_contact(native, **KW)
    except InputRejected:
        return


@settings(PROFILE)
@given(st.text(max_size=60), st.text(max_size=60) | st.none(), st.text(max_size=60) | st.none())
def test_mailchimp_fields(path: str, fields: str | None, exclude: str | None) -> None:
    doc = {"events": [{"name": path, "properties": {path: 1}}], "total_items": 1, path: [path]}
    mailchimp.select_fields(doc, fields, exclude)


@settings(PROFILE)
@given(objects("event_type", *EVENT_FIELDS, valid={"event_type": "cart", "email": "a@b.co"}))
def test_mailerpath(item: Any) -> None:
    _native(lambda: mailerpath.to_native(item))
    with contextlib.suppress(InputRejected):
        mailerpath.bulk_items(item)


@settings(PROFILE)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "event": st.text(max_size=30),
            "eventdata": st.text(max_size=60)
            | json_values.map(lambda v: __import__("json").dumps(v)),
            "visit": st.text(max_size=40) | st.just('{"email": "a@b.co"}'),
        },
    )
)
def test_activecampaign(form: dict[str, str]) -> None:
    _native(lambda: ac.to_native(form))


SHOWN = st.one_of(st.text(max_size=40), st.dictionaries(st.text(max_size=8), json_values))


@settings(PROFILE)
@given(SHOWN, st.one_of(st.none(), st.floats(allow_nan=False)))
def test_read_views_take_whatever_is_stored(properties: Any, value: Any) -> None:
    event = {
        "event_id": "e-1",
        "contact_id": "7c1d4c55-0f4e-5b8e-8a3a-3e3f1f2f9a01",
        "name": "x",
        "event_type": None,
        "occurred_at": "2026-03-14T11:00:00+00:00",
        "received_at": "2026-03-14T11:00:00+00:00",
        "properties": properties,
        "value": value,
    }
    mailchimp.event_view(event)
    emma.member_event_view(7, event, TYPES)
    log = ac.tracking_log(event, "http://x")
    ac.activity(log, "http://x")
