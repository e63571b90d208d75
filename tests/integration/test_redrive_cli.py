"""`eventline redrive --status failed --since` on the real pipeline (issue 13): every failed
event sent again once; what its cause still fails fails again, visibly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from eventline.processes.pipeline import Pipeline
from tests.integration.conftest import STRICT
from tests.integration.helpers import eventually, status_of, unique_email, wait_status

pytestmark = pytest.mark.integration


def test_failed_events_are_redriven_and_those_still_failing_fail_again(
    pipeline: Pipeline, http: httpx.Client, tmp_path: Path
) -> None:
    headers = {"X-Eventline-Account": STRICT}
    emails = [unique_email(f"redrive{i}") for i in range(3)]
    sent = []
    for email in emails:  # unknown contacts in an account whose policy is 'fail'
        answer = http.post("/v1/events", json={"email": email, "name": "purchase"}, headers=headers)
        sent.append(answer.json()["event_id"])
    for event_id in sent:
        wait_status(http, event_id, "failed", account=STRICT)
    for email in emails[:2]:  # the cause fixed for two of them
        registered = http.post("/v1/contacts", json={"email": email}, headers=headers)
        assert registered.status_code == 202, registered.text
    assert pipeline.gateway is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLINE_")}
    command = [sys.executable, "-m", "eventline", "redrive", "--status", "failed"]
    command += ["--since", "10m", "--account", STRICT, "--url", pipeline.gateway.url]
    done = subprocess.run(
        command, env={**env, "EVENTLINE_HOME": str(tmp_path)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "events re-driven" in done.stdout
    for event_id in sent[:2]:
        assert wait_status(http, event_id, "processed", account=STRICT)["process_error"] is None

    def failed_again() -> dict[str, Any] | None:  # the re-driven attempt failed, and says so
        body = status_of(http, sent[2], STRICT)
        retried = [r for r in body.get("receipts", []) if r["attempt"] == 1]
        return body if retried and retried[0]["status"] == "failed" else None

    again = eventually(failed_again, what="the re-driven attempt of the unfixed event failed")
    assert "unknown contact" in again["process_error"]
