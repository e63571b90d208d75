"""gzip request bodies (Content-Encoding: gzip, as Segment's SDKs send with ``gzip=True``):
inflated on every JSON route within the route's limit, which applies to the inflated body; a
gzip bomb is 413 without inflating past it, a corrupt body 400, an unknown coding 415."""

from __future__ import annotations

import base64
import gzip
import json
import time
import zlib
from typing import Any

import pytest
from fastapi.testclient import TestClient

from eventline.core.settings import Settings
from eventline.producers.dialects import segment
from eventline.producers.gateway import encoding
from tests.unit.producers.gateway.conftest import FakeWriter

LIMIT = 1000


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _gzip(document: Any) -> bytes:
    return gzip.compress(json.dumps(document).encode())


# --- the pure part -----------------------------------------------------------------------


def test_a_gzip_body_inflates_and_identity_changes_nothing() -> None:
    assert encoding.decode(gzip.compress(b'{"a": 1}'), "gzip", LIMIT) == b'{"a": 1}'
    assert encoding.decode(gzip.compress(b"x"), "X-Gzip", LIMIT) == b"x"
    assert encoding.decode(b"plain", "identity", LIMIT) == b"plain"
    assert encoding.decode(b"plain", None, LIMIT) == b"plain"
    assert encoding.decode(b"", "gzip", LIMIT) == b""  # no body: nothing to inflate


def test_concatenated_gzip_members_are_one_body() -> None:
    body = gzip.compress(b'{"a": ') + gzip.compress(b"1}")
    assert encoding.decode(body, "gzip", LIMIT) == b'{"a": 1}'


def test_a_body_coded_twice_is_inflated_twice() -> None:
    twice = gzip.compress(gzip.compress(b"hello"))
    assert encoding.decode(twice, "gzip, gzip", LIMIT) == b"hello"


def test_a_gzip_bomb_is_413_without_inflating_past_the_limit() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)  # 50 MB of zeros in ~50 KB
    started = time.perf_counter()
    with pytest.raises(encoding.Refused) as refused:
        encoding.decode(bomb, "gzip", LIMIT)
    assert refused.value.status == 413 and refused.value.problem.field == "body"
    assert "once inflated" in refused.value.problem.reason
    assert time.perf_counter() - started < 0.5  # stopped at the limit, not after 50 MB


def test_an_inflated_body_of_exactly_the_limit_passes() -> None:
    assert len(encoding.decode(gzip.compress(b"a" * LIMIT), "gzip", LIMIT)) == LIMIT
    with pytest.raises(encoding.Refused):
        encoding.decode(gzip.compress(b"a" * (LIMIT + 1)), "gzip", LIMIT)


@pytest.mark.parametrize(
    "body",
    [
        b'{"not": "gzip"}',
        gzip.compress(b'{"a": 1}')[:-6],  # truncated: no trailer
        gzip.compress(b'{"a": 1}')[:12],  # truncated inside the stream
        gzip.compress(b'{"a": 1}') + b"trailing garbage",
        zlib.compress(b'{"a": 1}'),  # zlib (deflate) framing, not gzip
    ],
)
def test_a_corrupt_gzip_body_is_400_naming_gzip(body: bytes) -> None:
    with pytest.raises(encoding.Refused) as refused:
        encoding.decode(body, "gzip", LIMIT)
    assert refused.value.status == 400
    assert refused.value.problem.field == "body"
    assert "is not valid gzip" in refused.value.problem.reason


@pytest.mark.parametrize("header", ["br", "deflate", "gzip, br", "compress"])
def test_an_unknown_content_encoding_is_415(header: str) -> None:
    with pytest.raises(encoding.Refused) as refused:
        encoding.codings(header)
    assert refused.value.status == 415
    assert refused.value.problem.field == "Content-Encoding"


# --- every JSON route of the gateway -----------------------------------------------------


def _routes(client: TestClient) -> list[tuple[str, str, Any, dict[str, str]]]:
    """(method, path, body, headers) of a valid request on each JSON route, by API."""
    number = client.post("/v1/accounts", json={"account_id": "app"}).json()["number"]
    key = client.post("/v1/accounts/app/keys").json()["key"]
    bearer = {"Authorization": f"Bearer {key}"}
    event = {"email": "ada@example.com", "name": "purchase"}
    track = {"userId": "u-1", "event": "Order Completed"}
    return [
        ("POST", "/v1/events", event, bearer),  # the fast path
        ("POST", "/v1/events", [event, event], bearer),
        ("POST", "/v1/contacts", {"email": "ada@example.com"}, bearer),
        ("PUT", "/v1/rules/r1", {"kind": "tag", "when": {"name": "x"}, "add": ["t"]}, bearer),
        ("POST", "/api/v1/client/events", {"event_type": "cart", "email": "a@b.io"}, bearer),
        (
            "POST",
            "/api/v1/client/events/bulk",
            {"events": [{"event_type": "cart", "user_id": "u"}]},
            bearer,
        ),
        ("POST", "/v1/track", track, _basic(key, "")),
        ("POST", "/v1/page", {"userId": "u-1", "name": "Home"}, _basic(key, "")),
        ("POST", "/v1/batch", {"batch": [{"type": "track", **track}]}, _basic(key, "")),
        (
            "POST",
            "/3.0/lists/l1/members/ada@example.com/events",
            {"name": "registered_referral"},
            _basic("any", key),
        ),
        ("POST", f"/{number}/events", {"event_type": "t", "display_name": "T"}, _basic("p", key)),
        (
            "POST",
            "/api/3/eventTrackingEvents",
            {"eventTrackingEvent": {"name": "x"}},
            {"Api-Token": key},
        ),
    ]


def test_every_json_route_takes_a_gzip_body_as_it_takes_the_plain_one(
    client: TestClient, writer: FakeWriter
) -> None:
    for method, path, body, headers in _routes(client):
        zipped = {**headers, "Content-Encoding": "gzip", "Content-Type": "application/json"}
        before = len(writer.records)
        answer = client.request(method, path, content=_gzip(body), headers=zipped)
        assert answer.status_code < 300, (path, answer.status_code, answer.text)
        assert len(writer.records) > before, path  # written, not only answered


def test_the_inflated_body_is_what_a_route_reads(client: TestClient, writer: FakeWriter) -> None:
    body = {"email": "ada@example.com", "name": "purchase", "properties": {"sku": "MUG-1"}}
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    assert client.post("/v1/events", content=_gzip(body), headers=headers).status_code == 202
    _, record = writer.incoming()[-1]
    assert (record["name"], record["properties_json"]) == ("purchase", '{"sku":"MUG-1"}')


def test_the_route_limit_applies_to_the_inflated_body(client: TestClient) -> None:
    properties = {"text": "a" * segment.MAX_CALL_BYTES}  # compresses to almost nothing
    body = _gzip({"userId": "u-1", "event": "e", "properties": properties})
    assert len(body) < 1000
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    answer = client.post("/v1/track", content=body, headers=headers)
    assert answer.status_code == 413
    document = answer.json()
    assert document["success"] is False and document["code"] == "too_large"
    assert "once inflated" in document["errors"][0]["reason"]


@pytest.fixture
def settings() -> Settings:
    return Settings(bulk_max_events=3, body_max_bytes=4096)


def test_a_bomb_on_the_native_route_is_413_in_its_shape(client: TestClient) -> None:
    bomb = gzip.compress(b"[" + b" " * 20_000_000 + b"]")
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    answer = client.post("/v1/contacts", content=bomb, headers=headers)
    assert answer.status_code == 413 and answer.json()["error"] == "body_too_large"


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/v1/events", "error"),
        ("/v1/batch", "success"),
        ("/3.0/lists/l/members/a@b.io/events", "title"),
    ],
)
def test_a_corrupt_body_is_400_and_an_unknown_coding_415_in_each_apis_shape(
    client: TestClient, path: str, shape: str
) -> None:
    plain = {"Content-Type": "application/json"}
    corrupt = client.post(path, content=b"{}", headers={**plain, "Content-Encoding": "gzip"})
    assert corrupt.status_code == 400 and shape in corrupt.json()
    assert "is not valid gzip" in corrupt.text
    brotli = client.post(path, content=b"{}", headers={**plain, "Content-Encoding": "br"})
    assert brotli.status_code == 415 and shape in brotli.json()
    assert "Content-Encoding" in brotli.text


def test_a_gzip_form_body_is_inflated_too(client: TestClient, writer: FakeWriter) -> None:
    form = b"email=ada%40example.com&name=purchase&properties%5Bsku%5D=MUG-1"
    headers = {
        "Content-Encoding": "gzip",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    answer = client.post("/v1/events", content=gzip.compress(form), headers=headers)
    assert answer.status_code == 202, answer.text
    assert writer.incoming()[-1][1]["properties_json"] == '{"sku":"MUG-1"}'
