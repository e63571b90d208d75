"""The gateway for fuzzing: in process, Kafka and ClickHouse replaced by fakes, one account
with a key (so the dialects that need a key are reached past their auth)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from eventline.core.settings import Settings
from eventline.producers.gateway import app as gateway_app
from eventline.sinks.reads import StoreReads
from tests.unit.producers.gateway.conftest import FakeStore, FakeWriter, use_fakes
from tests.unit.producers.gateway.test_reads import POISON, _contact, _event, _incoming

# Examples per operation and per parser property: `make fuzz` runs 1,000; `make test` a few.
EXAMPLES = int(os.environ.get("EVENTLINE_FUZZ_EXAMPLES", "20"))
settings.register_profile(
    "eventline-fuzz",
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # no .hypothesis folder left behind; a failure prints its example
)


@dataclass
class Fuzzed:
    """The app under test, its OpenAPI document and what gets a request past authentication."""

    schema: Any
    key: str = ""
    number: int = 0

    def forget_writes(self) -> None:
        """Empty the fake Kafka, so thousands of requests keep memory flat."""
        writer: FakeWriter = self.schema.app.state.gateway.writer
        writer.records.clear()


# Module scope: the fakes are patched into the gateway module, and must be gone before the
# integration tests start a real gateway in the same process.
@pytest.fixture(scope="module")
def app_schema() -> Iterator[Any]:
    patch = pytest.MonkeyPatch()
    use_fakes(patch)  # schemathesis starts the app's lifespan once, at the first request
    store = FakeStore()
    # Rows as they may be stored, poison included: reads must show them, never fail.
    store.tables["events"] = [_event(text) for text in POISON.values()]
    store.tables["incoming_events"] = [_incoming(text) for text in POISON.values()]
    store.tables["contacts"] = [_contact(POISON["deep"])]
    app = gateway_app.create_app(Settings(), reads=StoreReads(store))  # type: ignore[arg-type]
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    patch.undo()


@pytest.fixture
def fuzzed(app_schema: Any) -> Fuzzed:
    """The fuzz account and a key of it (schemathesis may start the app's lifespan afresh
    for each test, with empty fakes, so each test makes sure of them)."""
    account = {"account_id": "fuzz"}
    app_schema["/v1/accounts"]["POST"].Case(body=account).call()  # 201, or 409 when it exists
    keys = app_schema["/v1/accounts/{account_id}/keys"]["POST"]
    key = keys.Case(path_parameters=account, body={}).call().json()["key"]
    shown = app_schema["/v1/accounts/{account_id}"]["GET"].Case(path_parameters=account).call()
    return Fuzzed(app_schema, key, int(shown.json()["number"]))


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


AUTH_HEADERS = ("authorization", "x-api-key", "api-token", "x-eventline-account")


def authenticated(fuzzed: Fuzzed, path: str, headers: dict[str, Any] | None) -> dict[str, Any]:
    """The headers of a case with the generated credentials replaced by the fuzz account's key,
    in the form the path's API takes it."""
    out = {k: v for k, v in (headers or {}).items() if k.lower() not in AUTH_HEADERS}
    if path.startswith("/{account_id}"):
        out["Authorization"] = basic("public", fuzzed.key)
    elif path.startswith(("/api/3/", "/event")):
        out["Api-Token"] = fuzzed.key
    elif path.startswith("/3.0/"):
        out["Authorization"] = basic("anystring", fuzzed.key)
    elif path in ("/v1/track", "/v1/identify", "/v1/batch"):
        out["Authorization"] = basic(fuzzed.key, "")
    elif not path.startswith("/v1/accounts"):
        out["Authorization"] = f"Bearer {fuzzed.key}"
    return out
