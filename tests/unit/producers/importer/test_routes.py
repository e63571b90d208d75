"""Each route's answer read as one outcome per line (eventline.producers.importer.routes)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from eventline.producers.importer.lines import read
from eventline.producers.importer.routes import MailerPath, Native, Segment, route_of


def test_segment_answers_are_read_per_call() -> None:
    route = Segment()
    assert orjson.loads(route.body([{"type": "track"}])) == {"batch": [{"type": "track"}]}
    assert route.headers == {"x-eventline-backfill": "true"}
    assert route.outcomes(200, {"success": True}, 3) == [("received", [])] * 3
    errors = [
        {"field": "batch[1].event", "reason": "is required"},
        {"field": "batch[1].timestamp", "reason": "is not a time"},
        {"field": "batch[2].userId", "reason": "userId or anonymousId is required"},
    ]
    assert route.outcomes(400, {"success": False, "errors": errors}, 3) == [
        ("received", []),
        ("rejected", [("event", "is required"), ("timestamp", "is not a time")]),
        ("rejected", [("userId", "userId or anonymousId is required")]),
    ]
    # about the request, not a call: the import cannot say what became of each line
    assert route.outcomes(413, {"errors": [{"field": "batch", "reason": "too many"}]}, 3) is None
    assert route.outcomes(401, {"success": False}, 3) is None


def test_native_answers_are_read_per_event() -> None:
    results = [
        {"status": "received"},
        {"status": "duplicate"},
        {"status": "rejected", "errors": [{"field": "[2].name", "reason": "Field required"}]},
    ]
    assert Native().outcomes(207, {"results": results}, 3) == [
        ("received", []),
        ("duplicate", []),
        ("rejected", [("name", "Field required")]),
    ]
    assert Native().outcomes(413, {"error": "too_many_events"}, 3) is None
    # all accepted: counted without an outcome per event; any refusal: an outcome per event
    accepted = [{"status": "received"}, {"status": "duplicate"}, {"status": "received"}]
    whole = {"accepted": 3, "rejected": 0, "results": accepted}
    assert Native().duplicates_if_all_accepted(202, whole, 3) == 1
    some = {"accepted": 2, "rejected": 1, "results": results}
    assert Native().duplicates_if_all_accepted(207, some, 3) is None
    assert Native().duplicates_if_all_accepted(202, whole, 4) is None


def test_segment_lines_keep_their_message_id_or_get_a_stable_one(tmp_path: Path) -> None:
    path = tmp_path / "segment.jsonl"
    path.write_text(
        '{"type": "track", "event": "Order Completed", "userId": "u", "messageId": "m-1"}\n'
        '{"type": "page", "anonymousId": "a"}\n'
        "[1]\n"
    )
    first, second, third = read(path, "jsonl", dialect="segment")
    assert first.event is not None and first.event["messageId"] == "m-1"
    assert "is_syncing" not in first.event  # the route asks for backfill, the call is as sent
    assert second.event is not None and second.event["messageId"].startswith("import-2-")
    assert third.event is None and third.error == "not a JSON object"
    with pytest.raises(ValueError, match="JSON lines"):
        list(read(path, "csv", dialect="segment"))


def test_mailerpath_events_go_to_its_bulk_route_as_backfill(tmp_path: Path) -> None:
    route = route_of("mailerpath")
    assert isinstance(route, MailerPath) and route.path == "/api/v1/client/events/bulk"
    event = {"event_type": "purchase", "email": "ada@example.com"}
    assert orjson.loads(route.body([event])) == {"events": [event]}
    refused = {"field": "events[1].event_type", "reason": "must be one of signup, purchase"}
    results = [{"status": "received"}, {"status": "rejected", "errors": [refused]}]
    assert route.outcomes(202, {"results": results}, 2) == [
        ("received", []),
        ("rejected", [("event_type", "must be one of signup, purchase")]),
    ]
    jsonl = tmp_path / "mailerpath.jsonl"
    jsonl.write_text(orjson.dumps(event).decode() + "\n")
    (line,) = read(jsonl, "jsonl", dialect="mailerpath")
    assert line.event is not None and line.event["is_syncing"] is True
    assert line.event["idempotency_key"].startswith("import-1-")
    csv_file = tmp_path / "mailerpath.csv"
    csv_file.write_text("event_type,email,sku\nsignup,ada@example.com,MUG-1\n")
    (row,) = read(csv_file, "csv", dialect="mailerpath")
    assert row.event is not None
    assert row.event["event_type"] == "signup" and row.event["properties"] == {"sku": "MUG-1"}
    assert "name" not in row.event  # MailerPath names an event by its type
    with pytest.raises(ValueError, match="'name' among them"):  # a native CSV needs a name
        list(read(tmp_path / "mailerpath.csv", "csv", dialect="native"))
