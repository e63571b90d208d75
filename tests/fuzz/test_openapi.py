"""Every HTTP operation of the OpenAPI document, fuzzed in process (schemathesis): no answer
is a 5xx, every answer's status is documented, and every body is in the documented shape
(the 4xx ones in their API's error shape)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from eventline.core.settings import Settings
from eventline.producers.gateway.app import create_app
from tests.fuzz.conftest import Fuzzed, authenticated

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
# /health takes no input, and without a broker it answers its documented 503 ("Kafka does
# not answer") after a timeout: tests/unit/producers/gateway/test_app.py covers it.
OPERATIONS = [
    (method.upper(), path)
    for path, methods in create_app(Settings()).openapi()["paths"].items()
    for method in methods
    if path != "/health"
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_operation(fuzzed: Fuzzed, method: str, path: str) -> None:
    operation = fuzzed.schema[path][method]
    # Valid requests (by the document) and invalid ones: both must get documented answers.
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(settings.get_profile("eventline-fuzz"))
    @given(case=cases, keyed=st.booleans())
    def run(case: Any, keyed: bool) -> None:
        # Half the cases carry the fuzz account's key (and Emma's account number), to reach
        # past authentication; the others keep what was generated.
        if keyed:
            case.headers = authenticated(fuzzed, path, case.headers)
            if path.startswith("/{account_id}"):
                number = {"account_id": fuzzed.number}
                case.path_parameters = {**(case.path_parameters or {}), **number}
        response = case.call()
        case.validate_response(response, checks=CHECKS)
        fuzzed.forget_writes()

    run()
