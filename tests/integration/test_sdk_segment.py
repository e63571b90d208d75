"""Segment's own Python SDK (segment-analytics-python) against the real pipeline, used exactly
as its README does: only the host and the write key changed. All six call types reach the
store; gzip=True works; refusals reach the SDK's own error path (on_error with its APIError)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import segment.analytics as analytics
from segment.analytics import Client
from segment.analytics import request as sdk_request
from segment.analytics.request import APIError

from eventline.processes.pipeline import Pipeline
from tests.integration.helpers import eventually, unique_email


class Errors:
    """What the SDK reports through ``on_error``: (exception, the batch it failed)."""

    def __init__(self) -> None:
        self.seen: list[tuple[Exception, list[dict[str, Any]]]] = []
        self._lock = threading.Lock()

    def __call__(self, error: Exception, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            self.seen.append((error, batch))

    def api_errors(self) -> list[APIError]:
        return [e for e, _ in self.seen if isinstance(e, APIError)]


@pytest.fixture
def account(http: httpx.Client) -> tuple[str, str]:
    """A fresh account and its key: (key, account id)."""
    account_id = f"sdk-seg-{uuid.uuid4().hex[:8]}"
    assert http.post("/v1/accounts", json={"account_id": account_id}).status_code == 201
    key = http.post(f"/v1/accounts/{account_id}/keys").json()["key"]
    return str(key), account_id


@pytest.fixture
def module_client(pipeline: Pipeline) -> Iterator[None]:
    """The SDK's module-level client, reset around the test (it is created on first use)."""
    analytics.default_client = None
    yield
    analytics.shutdown()
    analytics.default_client = None
    analytics.write_key, analytics.host, analytics.on_error = None, None, None


def _contact(http: httpx.Client, key: str, user_id: str) -> dict[str, Any] | None:
    answer = http.get("/v1/contacts", params={"user_id": user_id}, headers=_bearer(key))
    found = answer.json().get("contacts") or [] if answer.status_code == 200 else []
    return found[0] if found else None


def _timeline(http: httpx.Client, key: str, contact_id: str) -> list[dict[str, Any]]:
    answer = http.get(f"/v1/contacts/{contact_id}/events?count=50", headers=_bearer(key))
    return list(answer.json().get("events", [])) if answer.status_code == 200 else []


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _incoming(http: httpx.Client, key: str, status: str) -> list[dict[str, Any]]:
    answer = http.get(f"/v1/incoming?status={status}&count=100", headers=_bearer(key))
    return list(answer.json()["incoming"])


def test_the_six_calls_of_the_readme_reach_the_contact(
    pipeline: Pipeline, http: httpx.Client, account: tuple[str, str], module_client: None
) -> None:
    assert pipeline.gateway is not None
    key, _ = account
    errors = Errors()
    analytics.write_key = key
    analytics.host = pipeline.gateway.url
    analytics.on_error = errors
    user, anonymous, email = f"u-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, unique_email("sdk")

    analytics.identify(user, {"email": email, "name": "Ada", "plan": "pro"})
    analytics.track(user, "Order Completed", {"revenue": 12.5, "sku": "MUG-1"})
    analytics.page(user, "Docs", "Pricing", {"url": "https://example.com/pricing"})
    analytics.screen(user, name="Basket", properties={"items": 2})
    analytics.group(user, "acme", {"name": "Acme Inc", "employees": 42})
    analytics.alias(anonymous, user)
    analytics.flush()
    # after the alias, the anonymous id names the user's contact
    analytics.track(anonymous_id=anonymous, event="Cart Viewed", properties={"sku": "MUG-1"})
    analytics.flush()
    assert errors.seen == []

    contact = eventually(lambda: _contact(http, key, user), what="the identified contact")
    wanted = {"Order Completed", "Page Viewed", "Screen Viewed", "Cart Viewed"}

    def events() -> list[dict[str, Any]] | None:
        found = _timeline(http, key, contact["contact_id"])
        return found if {e["name"] for e in found} >= wanted else None

    by_name = {e["name"]: e for e in eventually(events, what="the four events on the timeline")}
    assert by_name["Order Completed"]["value"] == 12.5
    page = by_name["Page Viewed"]["properties"]
    assert page == {"url": "https://example.com/pricing", "name": "Pricing", "category": "Docs"}
    assert by_name["Screen Viewed"]["properties"] == {"name": "Basket", "items": 2}

    def grouped() -> dict[str, Any] | None:
        found = _contact(http, key, user)
        attributes = (found or {}).get("attributes") or {}
        return attributes if attributes.get("group_id") == "acme" else None

    attributes = eventually(grouped, what="the group on the contact")
    assert attributes["group_traits"] == {"name": "Acme Inc", "employees": 42}
    assert (attributes["plan"], contact["email"]) == ("pro", email)
    # every call has its status, none refused or failed
    assert _incoming(http, key, "rejected") == [] and _incoming(http, key, "failed") == []


def test_gzip_true_sends_compressed_batches_that_are_recorded(
    pipeline: Pipeline,
    http: httpx.Client,
    account: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert pipeline.gateway is not None
    key, _ = account
    encodings: list[str | None] = []
    post = sdk_request._session.post

    def spy(url: str, **kwargs: Any) -> Any:
        encodings.append(kwargs["headers"].get("Content-Encoding"))
        return post(url, **kwargs)

    monkeypatch.setattr(sdk_request._session, "post", spy)
    errors = Errors()
    client = Client(key, host=pipeline.gateway.url, gzip=True, on_error=errors)
    user = f"u-{uuid.uuid4().hex[:8]}"
    client.identify(user, {"email": unique_email("gz")})
    client.track(user, "Signed Up", {"plan": "pro"})
    client.page(user, name="Welcome")
    client.flush()
    client.shutdown()
    assert errors.seen == [] and encodings and set(encodings) == {"gzip"}

    def events() -> list[str] | None:
        found = _contact(http, key, user)
        names = (
            sorted(e["name"] for e in _timeline(http, key, found["contact_id"])) if found else []
        )
        return names if len(names) == 2 else None

    assert eventually(events, what="the gzip batch's events") == ["Page Viewed", "Signed Up"]


def test_an_invalid_call_reaches_on_error_as_a_400_naming_segments_field(
    pipeline: Pipeline, http: httpx.Client, account: tuple[str, str]
) -> None:
    assert pipeline.gateway is not None
    key, _ = account
    errors = Errors()
    client = Client(key, host=pipeline.gateway.url, on_error=errors)
    user = f"u-{uuid.uuid4().hex[:8]}"
    # the SDK sends it; a time more than a day ahead is refused (a device clock gone wrong)
    client.track(user, "Order Completed", timestamp=datetime(2999, 1, 1, tzinfo=UTC))
    client.flush()
    client.shutdown()
    (error,) = errors.api_errors()
    assert (error.status, error.code) == (400, "invalid_request")
    assert "batch[0].timestamp" in error.message
    body = error.response.json() if error.response is not None else {}
    assert body["errors"][0]["field"] == "batch[0].timestamp"

    def rejected() -> list[dict[str, Any]] | None:
        return _incoming(http, key, "rejected") or None

    (row,) = eventually(rejected, what="the refused call recorded as rejected")
    assert row["process_error"].startswith("timestamp: ")  # the call's own record
    assert (row["name"], row["user_id"]) == ("Order Completed", user)


def test_a_wrong_write_key_reaches_on_error_as_a_401(pipeline: Pipeline) -> None:
    assert pipeline.gateway is not None
    errors = Errors()
    client = Client("el_not-a-key", host=pipeline.gateway.url, on_error=errors)
    client.track("u-1", "Order Completed")
    client.flush()
    client.shutdown()
    (error,) = errors.api_errors()
    assert (error.status, error.code) == (401, "unauthorized")


def test_sync_mode_raises_the_sdks_own_error(pipeline: Pipeline, account: tuple[str, str]) -> None:
    assert pipeline.gateway is not None
    key, _ = account
    client = Client(key, host=pipeline.gateway.url, sync_mode=True)
    assert client.track("u-1", "Order Completed")[0] is True
    with pytest.raises(APIError) as refused:
        client.track("u-1", "e" * 201)  # past the 200 characters of an event name
    assert (refused.value.status, refused.value.code) == (400, "invalid_request")
    assert "batch[0].event" in refused.value.message
