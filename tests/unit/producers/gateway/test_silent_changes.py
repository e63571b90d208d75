"""Input is refused, naming the field, rather than stored changed (issue 10, "Input silently
changed"): non-finite numbers, invalid UTF-8, NUL characters; malformed JSON is reported as
malformed JSON on every route."""

from __future__ import annotations

import base64

import pytest
from fastapi.testclient import TestClient

from tests.unit.producers.gateway.conftest import FakeWriter

JSON = {"content-type": "application/json"}


def _keys(client: TestClient) -> tuple[str, int]:
    number = client.post("/v1/accounts", json={"account_id": "app"}).json()["number"]
    return str(client.post("/v1/accounts/app/keys").json()["key"]), int(number)


def _basic(user: str, password: str = "") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e309"])
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ('{"email": "a@b.co", "name": "x", "value": %s}', "value"),
        ('{"email": "a@b.co", "name": "x", "properties": {"price": %s}}', "properties.price"),
        ('[{"email": "a@b.co", "name": "x", "properties": {"p": [1, %s]}}]', "[0].properties.p[1]"),
    ],
)
def test_non_finite_numbers_are_400_naming_the_field(
    client: TestClient, writer: FakeWriter, number: str, template: str, field: str
) -> None:
    answer = client.post("/v1/events", content=template % number, headers=JSON)
    assert answer.status_code == 400, answer.text
    assert field in [
        e["field"] for e in answer.json().get("errors") or answer.json()["results"][0]["errors"]
    ]
    assert "finite" in answer.text
    assert not writer.incoming()


def test_non_finite_numbers_in_the_dialects(client: TestClient, writer: FakeWriter) -> None:
    key, _ = _keys(client)
    track = '{"userId": "u", "event": "e", "properties": {"revenue": Infinity}}'
    answer = client.post("/v1/track", content=track, headers={**JSON, **_basic(key)})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "properties.revenue"
    path = "/3.0/lists/l1/members/ada@example.com/events"
    body = '{"name": "viewed", "properties": {"value": NaN}}'
    answer = client.post(path, content=body, headers={**JSON, **_basic("any", key)})
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "properties.value"
    form = {"email": "a@b.co", "name": "x", "value": "nan"}
    answer = client.post("/v1/events", data=form)
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "value"
    assert not writer.incoming()


def test_invalid_utf8_is_refused_not_replaced(client: TestClient, writer: FakeWriter) -> None:
    body = b'{"email": "a@b.co", "name": "caf\xe9"}'
    answer = client.post("/v1/events", content=body, headers=JSON)
    assert answer.status_code == 400, answer.text
    assert "UTF-8" in answer.json()["errors"][0]["reason"]
    form = {"content-type": "application/x-www-form-urlencoded"}
    answer = client.post("/v1/events", content=b"email=a%40b.co&name=caf%E9", headers=form)
    assert answer.status_code == 400 and "UTF-8" in answer.text
    answer = client.post(
        "/v1/events", files={"email": (None, b"a@b.co"), "name": (None, b"caf\xe9")}
    )
    assert answer.status_code == 400 and "UTF-8" in answer.text
    assert not writer.incoming()
    answer = client.post("/v1/events", data={"email": "a@b.co", "name": "café"})
    assert answer.status_code == 202  # valid UTF-8 in a form is read as such


def test_unpaired_surrogate_escapes_are_refused(client: TestClient, writer: FakeWriter) -> None:
    body = '{"email": "a@b.co", "name": "x", "properties": {"k": "\\ud800"}}'
    answer = client.post("/v1/events", content=body, headers=JSON)
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "properties.k"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "pur\x00chase"}, "name"),
        ({"properties": {"s\x00ku": 1}}, "properties.s\x00ku"),
        ({"user_id": "u\x001"}, "user_id"),
        ({"idempotency_key": "k\x001"}, "idempotency_key"),
    ],
)
def test_nul_characters_are_400_naming_the_field(
    client: TestClient, writer: FakeWriter, change: dict[str, object], field: str
) -> None:
    body = {"email": "a@b.co", "name": "purchase", **change}
    answer = client.post("/v1/events", json=body)
    assert answer.status_code == 400, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]
    assert not writer.incoming() and len(writer.statuses()) == 1


MALFORMED = '{"events": [1,'


def test_malformed_json_is_reported_as_malformed_on_every_route(client: TestClient) -> None:
    key, number = _keys(client)
    routes = [
        ("POST", "/v1/events", {}),
        ("POST", "/v1/contacts", {}),
        ("PUT", "/v1/rules/r1", {}),
        ("POST", "/v1/track", _basic(key)),
        ("POST", "/v1/identify", _basic(key)),
        ("POST", "/v1/batch", _basic(key)),
        ("POST", "/3.0/lists/l1/members/ada@example.com/events", _basic("any", key)),
        ("POST", "/api/v1/client/events", {}),
        ("POST", "/api/v1/client/events/bulk", {}),
        ("POST", f"/{number}/events", _basic("public", key)),
        ("POST", f"/{number}/events/members", _basic("public", key)),
        ("PUT", f"/{number}/events/1", _basic("public", key)),
        ("POST", "/api/3/eventTracking", {"Api-Token": key}),
        ("POST", "/api/3/eventTrackingEvents", {"Api-Token": key}),
        ("POST", "/v1/events/validate", {}),
        ("POST", "/v1/accounts", {}),
    ]
    client.post(
        f"/{number}/events",
        json={"event_type": "t", "display_name": "T"},
        headers=_basic("public", key),
    )
    for method, path, headers in routes:
        answer = client.request(method, path, content=MALFORMED, headers={**JSON, **headers})
        assert answer.status_code in (400, 422), (path, answer.text)
        assert "not valid JSON" in answer.text or "JSON decode error" in answer.text, (
            path,
            answer.text,
        )


def test_a_malformed_segment_call_is_recorded_as_rejected(
    client: TestClient, writer: FakeWriter
) -> None:
    key, _ = _keys(client)
    for path in ("/v1/track", "/v1/batch"):
        answer = client.post(path, content=MALFORMED, headers={**JSON, **_basic(key)})
        assert answer.status_code == 400 and "not valid JSON" in answer.json()["message"]
    statuses = [s for _, s in writer.statuses()]
    assert [s["raw"] for s in statuses] == [MALFORMED, MALFORMED]
