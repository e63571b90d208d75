"""eventline.streams.resolve: which contact a record belongs to, against a fake identity table."""

from __future__ import annotations

from typing import Any

from eventline.schemas.model import CONTACT, EVENT, IDENTITY, minted_contact_id
from eventline.streams.resolve import ALIAS, resolve


def record(kind: str = EVENT, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "account_id": "acme", "route_key": None, **fields}


def table(**entries: str) -> Any:
    """A lookup over a dict, remembering which keys were asked for."""
    data = {k.replace("__", "/"): v for k, v in entries.items()}
    asked: list[str] = []

    def lookup(key: str) -> str | None:
        asked.append(key)
        return data.get(key)

    lookup.asked = asked  # type: ignore[attr-defined]
    return lookup


def test_identity_claim_stores_an_alias_to_its_route_key() -> None:
    claim = record(IDENTITY, route_key="acme/email/ada@example.com", user_id="u-1")
    res = resolve(claim, "acme/user/u-1", table(), "fail")
    assert res.store == {"acme/user/u-1": ALIAS + "acme/email/ada@example.com"}
    assert res.contact_id is None and res.forward_to is None and res.error is None


def test_contact_key_is_the_contact_id_itself() -> None:
    lookup = table()
    res = resolve(record(contact_id="c-1"), "acme/contact/c-1", lookup, "fail")
    assert res.contact_id == "c-1"
    assert res.store == {} and res.error is None
    assert lookup.asked == []


def test_alias_forwards_to_the_aliased_key() -> None:
    lookup = table(acme__user__u1="@acme/email/ada@example.com")
    res = resolve(record(user_id="u1"), "acme/user/u1", lookup, "create")
    assert res.forward_to == "acme/email/ada@example.com"
    assert res.contact_id is None and res.store == {}


def test_known_identity_resolves_to_its_contact() -> None:
    lookup = table(**{"acme__email__ada@example.com": "c-7"})
    res = resolve(record(email="ada@example.com"), "acme/email/ada@example.com", lookup, "fail")
    assert res.contact_id == "c-7"
    assert res.store == {} and res.error is None


def test_unknown_event_under_policy_create_mints_and_stores_a_contact() -> None:
    key = "acme/email/new@example.com"
    res = resolve(record(email="new@example.com"), key, table(), "create")
    assert res.contact_id == minted_contact_id(key)
    assert res.store == {key: minted_contact_id(key)}
    again = resolve(record(email="new@example.com"), key, table(), "create")
    assert again.contact_id == res.contact_id  # deterministic across replays


def test_unknown_event_under_policy_fail_is_an_error() -> None:
    res = resolve(record(email="new@example.com"), "acme/email/new@example.com", table(), "fail")
    assert res.contact_id is None and res.store == {}
    assert res.error is not None
    assert "new@example.com" in res.error
    assert "acme" in res.error
    assert "'fail'" in res.error


def test_unknown_user_id_error_names_user_id() -> None:
    res = resolve(record(user_id="u-9"), "acme/user/u-9", table(), "fail")
    assert res.error is not None
    assert "user_id 'u-9'" in res.error


def test_unknown_contact_registration_under_policy_fail_still_mints() -> None:
    key = "acme/email/new@example.com"
    res = resolve(record(CONTACT, email="new@example.com"), key, table(), "fail")
    assert res.error is None
    assert res.contact_id == minted_contact_id(key)
    assert res.store == {key: res.contact_id}


def test_values_with_slashes_stay_whole() -> None:
    key = "acme/user/team/42"
    res = resolve(record(user_id="team/42"), key, table(), "fail")
    assert res.error is not None and "'team/42'" in res.error


def test_an_unknown_subscriber_hash_fails_whatever_the_policy() -> None:
    record = {"kind": EVENT, "account_id": "acme"}
    resolution = resolve(record, "acme/md5/" + "0" * 32, lambda _key: None, "create")
    assert resolution.error and "subscriber_hash" in resolution.error
    assert resolution.contact_id is None and resolution.store == {}


def test_a_malformed_subscriber_hash_never_stores_or_mints_anything() -> None:
    for kind in (EVENT, CONTACT, IDENTITY):
        for bad in ("0" * 30, "A" * 32, "c-1"):
            claim = {"kind": kind, "account_id": "acme", "route_key": "acme/email/a@x.com"}
            resolution = resolve(claim, f"acme/md5/{bad}", lambda _key: None, "create")
            assert resolution.error and "not a subscriber hash" in resolution.error
            assert resolution.contact_id is None and resolution.store == {}
