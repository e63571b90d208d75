"""`eventline import FILE` on the real pipeline (issue 13): every line accepted as backfill
or rejected with its line and reason, a second run sends nothing twice."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from eventline.processes.pipeline import Pipeline
from eventline.sinks.store import Store
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration
GOOD = 120


def _import(
    pipeline: Pipeline, home: Path, file: Path, *more: str
) -> subprocess.CompletedProcess[str]:
    assert pipeline.gateway is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTLINE_")}
    command = [sys.executable, "-m", "eventline", "import", str(file), "--batch", "50"]
    command += ["--url", pipeline.gateway.url, *more]
    return subprocess.run(
        command, env={**env, "EVENTLINE_HOME": str(home)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def test_an_export_is_imported_once_as_backfill_with_every_refusal_explained(
    pipeline: Pipeline, store: Store, tmp_path: Path
) -> None:
    user = f"imported-{uuid.uuid4().hex[:8]}"
    lines = [
        orjson.dumps({"name": "viewed_page", "user_id": user, "occurred_at":
                      f"2021-03-04T05:06:{i % 60:02d}Z", "properties": {"n": i}}).decode()
        for i in range(GOOD)
    ]  # fmt: skip
    lines.insert(10, '{"user_id": "' + user + '"}')  # line 11: no name
    lines.insert(20, "{oops")  # line 21: not JSON
    lines.insert(30, '{"name": "x", "user_id": "' + user + '", "is_syncing": false}')  # line 31
    file = tmp_path / "history.jsonl"
    file.write_text("\n".join(lines) + "\n")

    first = _import(pipeline, tmp_path, file)
    assert first.returncode == 0, first.stderr
    assert f"{GOOD} lines accepted, 3 lines rejected" in first.stdout
    assert "name: Field required (lines 11)" in first.stdout
    assert "(lines 21)" in first.stdout and "(lines 31)" in first.stdout
    rejects_file = Path(first.stdout.rsplit(": ", 1)[-1].strip())
    rejects = [orjson.loads(line) for line in rejects_file.read_text().splitlines()]
    assert sorted(r["line"] for r in rejects) == [11, 21, 31]

    def stored() -> list[dict[str, object]] | None:
        rows = store.query(
            "SELECT is_syncing, count() AS n FROM {db}.events FINAL "
            "WHERE contact_user_id = {u:String} GROUP BY is_syncing",
            {"u": user},
        )
        return rows if rows and sum(int(str(r["n"])) for r in rows) >= GOOD else None

    expected = [{"is_syncing": True, "n": GOOD}]
    assert eventually(stored, what="the imported events stored") == expected

    again = _import(pipeline, tmp_path, file)  # the position says all done: nothing sent
    assert again.returncode == 0 and "0 lines accepted" in again.stdout
    # Every line again: the stable keys make each a duplicate, stored once.
    from_start = _import(pipeline, tmp_path, file, "--from-start")
    assert f"{GOOD} lines accepted" in from_start.stdout

    def resends_settled() -> bool:
        rows = store.query(
            "SELECT count() AS n FROM {db}.incoming_events FINAL "
            "WHERE user_id = {u:String} AND status = 'duplicate'",
            {"u": user},
        )
        return int(rows[0]["n"]) >= GOOD

    eventually(resends_settled, what="every resent line marked duplicate")
    assert stored() == expected


def test_a_segment_export_is_imported_through_the_segment_route_as_backfill(
    pipeline: Pipeline, store: Store, tmp_path: Path
) -> None:
    user = f"seg-imported-{uuid.uuid4().hex[:8]}"
    calls = [
        {"type": "identify", "userId": user, "traits": {"plan": "pro"}},
        {"type": "track", "userId": user, "event": "Order Completed", "messageId": f"{user}-1",
         "properties": {"revenue": 12.5}, "timestamp": "2022-05-01T10:00:00Z"},
        {"type": "page", "userId": user, "name": "Pricing", "timestamp": "2022-05-01T10:01:00Z"},
        {"type": "track", "userId": user},  # line 4: no event
    ]  # fmt: skip
    file = tmp_path / "segment-export.jsonl"
    file.write_text("".join(orjson.dumps(c).decode() + "\n" for c in calls))
    done = _import(pipeline, tmp_path, file, "--dialect", "segment")
    assert done.returncode == 0, done.stderr
    assert "3 lines accepted, 1 lines rejected" in done.stdout
    assert "event: " in done.stdout and "(lines 4)" in done.stdout

    def stored() -> list[dict[str, object]] | None:
        rows = store.query(
            "SELECT name, is_syncing FROM {db}.events FINAL "
            "WHERE contact_user_id = {u:String} ORDER BY occurred_at",
            {"u": user},
        )
        return rows if len(rows) >= 2 else None

    rows = eventually(stored, what="the Segment export's events stored")
    assert rows == [
        {"name": "Order Completed", "is_syncing": True},
        {"name": "Page Viewed", "is_syncing": True},
    ]


def test_a_mailerpath_export_is_imported_through_its_bulk_route_as_backfill(
    pipeline: Pipeline, store: Store, tmp_path: Path
) -> None:
    user = f"mp-imported-{uuid.uuid4().hex[:8]}"
    file = tmp_path / "mailerpath-export.csv"
    file.write_text(
        "event_type,name,user_id,occurred_at,value,sku\n"
        f"signup,,{user},2022-05-01T10:00:00Z,,\n"
        f"purchase,ordered_mug,{user},2022-05-02T10:00:00Z,12.5,MUG-1\n"
        f"bought_a_boat,,{user},2022-05-03T10:00:00Z,,\n"  # line 4: not a MailerPath type
    )
    done = _import(pipeline, tmp_path, file, "--dialect", "mailerpath")
    assert done.returncode == 0, done.stderr
    assert "2 lines accepted, 1 lines rejected" in done.stdout
    assert "event_type: must be one of" in done.stdout and "(lines 4)" in done.stdout

    def stored() -> list[dict[str, object]] | None:
        rows = store.query(
            "SELECT name, event_type, value, is_syncing, source FROM {db}.events FINAL "
            "WHERE contact_user_id = {u:String} ORDER BY occurred_at",
            {"u": user},
        )
        return rows if len(rows) >= 2 else None

    rows = eventually(stored, what="the MailerPath export's events stored")
    assert rows == [
        {"name": "signup", "event_type": "signup", "value": None, "is_syncing": True,
         "source": "mailerpath"},
        {"name": "ordered_mug", "event_type": "purchase", "value": 12.5, "is_syncing": True,
         "source": "mailerpath"},
    ]  # fmt: skip
