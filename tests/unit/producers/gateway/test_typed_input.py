"""Wrongly typed input is a 400 naming the field in the dialect's own shape, never a 500
(issue 10, "500s on wrongly typed input")."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.producers.gateway.conftest import FakeWriter


def _key(client: TestClient, account: str = "app") -> tuple[str, int]:
    number = client.post("/v1/accounts", json={"account_id": account}).json()["number"]
    return str(client.post(f"/v1/accounts/{account}/keys").json()["key"]), int(number)


def _basic(user: str, password: str = "") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


VISIT = {"event_type": "visit", "display_name": "Visit"}


def _nested(levels: int) -> str:
    return '{"a":' * levels + "1" + "}" * levels


@pytest.mark.parametrize("bad", ["text", [1, 2], 7, True])
def test_segment_properties_and_traits_must_be_objects(
    client: TestClient, writer: FakeWriter, bad: Any
) -> None:
    key, _ = _key(client)
    track = {"userId": "u-1", "event": "Viewed", "properties": bad}
    answer = client.post("/v1/track", json=track, headers=_basic(key))
    assert answer.status_code == 400, answer.text
    assert answer.json()["success"] is False
    assert [e["field"] for e in answer.json()["errors"]] == ["properties"]
    identify = {"userId": "u-1", "traits": bad}
    answer = client.post("/v1/identify", json=identify, headers=_basic(key))
    assert answer.status_code == 400, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["traits"]


def test_a_segment_batch_with_a_bad_call_keeps_the_valid_calls(
    client: TestClient, writer: FakeWriter
) -> None:
    key, _ = _key(client)
    batch = {
        "batch": [
            {"type": "track", "userId": "u-1", "event": "Ok", "messageId": "m-ok"},
            {"type": "track", "userId": "u-1", "event": "Bad", "properties": ["x"]},
            {"type": "identify", "userId": "u-1", "traits": "x"},
        ]
    }
    answer = client.post("/v1/batch", json=batch, headers=_basic(key))
    assert answer.status_code == 400, answer.text
    fields = [e["field"] for e in answer.json()["errors"]]
    assert fields == ["batch[1].properties", "batch[2].traits"]
    assert [r["idempotency_key"] for _, r in writer.incoming()] == ["m-ok"]
    assert len(writer.statuses()) == 2


def test_segment_original_timestamp_far_from_sent_at_is_400(
    client: TestClient, writer: FakeWriter
) -> None:
    key, _ = _key(client)
    track = {
        "userId": "u-1",
        "event": "Viewed",
        "originalTimestamp": "0001-01-01T00:00:00Z",
        "sentAt": "9999-12-31T23:59:59Z",
    }
    answer = client.post("/v1/track", json=track, headers=_basic(key))
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["field"] == "originalTimestamp"
    assert not writer.incoming()


@pytest.mark.parametrize("bad", ["text", [1, 2], 7, True])
def test_emma_attributes_must_be_an_object(
    client: TestClient, writer: FakeWriter, bad: Any
) -> None:
    key, number = _key(client)
    auth = _basic("public", key)
    client.post(f"/{number}/events", json=VISIT, headers=auth)
    body = {"events": [{"email": "ada@example.com", "event_type": "visit", "attributes": bad}]}
    answer = client.post(f"/{number}/events/members", json=body, headers=auth)
    assert answer.status_code == 400, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["events[0].attributes"]
    assert "error" in answer.json()
    assert not writer.incoming()


def test_emma_nan_value_is_refused_before_anything_is_written(
    client: TestClient, writer: FakeWriter
) -> None:
    key, number = _key(client)
    auth = {**_basic("public", key), "content-type": "application/json"}
    client.post(f"/{number}/events", json=VISIT, headers=auth)
    body = (
        '{"events": [{"email": "ada@example.com", "event_type": "visit",'
        ' "event_monetary_value": NaN}]}'
    )
    answer = client.post(f"/{number}/events/members", content=body, headers=auth)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["field"] == "events[0].event_monetary_value"
    assert not writer.incoming()


JSON_ROUTES = [
    ("POST", "/v1/events", {}),
    ("POST", "/v1/contacts", {}),
    ("POST", "/v1/events/validate", {}),
    ("POST", "/v1/contacts/validate", {}),
    ("PUT", "/v1/rules/r1", {}),
    ("POST", "/v1/rules", {}),
    ("POST", "/v1/track", {}),
    ("POST", "/v1/identify", {}),
    ("POST", "/v1/batch", {}),
    ("POST", "/3.0/lists/l1/members/ada@example.com/events", {}),
    ("POST", "/api/v1/client/events", {}),
    ("POST", "/api/v1/client/events/bulk", {}),
    ("POST", "/v1/accounts", {}),
    ("POST", "/v1/accounts/app/keys", {}),
]


@pytest.mark.parametrize(("method", "path", "headers"), JSON_ROUTES)
def test_json_nested_ten_thousand_levels_is_400_on_every_json_route(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    _key(client)
    levels = 5_000 if path in ("/v1/track", "/v1/identify") else 10_000  # Segment: 32 KB a call
    answer = client.request(
        method,
        path,
        content=_nested(levels),
        headers={"content-type": "application/json", **headers},
    )
    assert answer.status_code in (400, 422), answer.text
    assert "nests deeper than" in answer.text


def test_json_nested_on_the_dialects_own_routes(client: TestClient) -> None:
    key, number = _key(client)
    json_type = {"content-type": "application/json"}
    for path in (f"/{number}/events/members", f"/{number}/events"):
        answer = client.post(
            path, content=_nested(10_000), headers={**json_type, **_basic("public", key)}
        )
        assert answer.status_code == 400 and "nests deeper than" in answer.json()["error"]
    for path in ("/api/3/eventTracking", "/api/3/eventTrackingEvents"):
        answer = client.post(path, content=_nested(10_000), headers={**json_type, "Api-Token": key})
        assert answer.status_code in (400, 422), answer.text
        assert "nests deeper than" in answer.text
