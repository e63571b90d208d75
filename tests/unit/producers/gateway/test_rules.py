"""The rules API on a gateway whose Kafka writer is a fake (no broker)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from schemas.codec import codec
from tests.unit.producers.gateway.conftest import FakeWriter

ACME = {"X-Eventline-Account": "acme"}
TAG = {"kind": "tag", "when": {"name": "viewed_product"}, "add": ["viewer"]}


def test_put_creates_then_replaces_and_writes_each_version(
    client: TestClient, writer: FakeWriter
) -> None:
    created = client.put("/v1/rules/viewers", json=TAG, headers=ACME)
    assert created.status_code == 201 and created.json()["version"] == 1
    replaced = client.put("/v1/rules/viewers", json={**TAG, "add": ["fan"]}, headers=ACME)
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    assert replaced.json()["created_at"] == created.json()["created_at"]
    entries = [
        (key, codec().decode("RuleEntry", value))
        for topic, key, value in writer.records
        if topic == "eventline.rules"
    ]
    assert [(k, e["version"]) for k, e in entries] == [("acme/viewers", 1), ("acme/viewers", 2)]
    shown = client.get("/v1/rules/viewers", headers=ACME).json()
    assert shown["add"] == ["fan"] and shown["kind"] == "tag"


def test_rules_belong_to_their_account(client: TestClient) -> None:
    client.put("/v1/rules/viewers", json=TAG, headers=ACME)
    assert client.get("/v1/rules/viewers").status_code == 404  # the default account
    assert client.get("/v1/rules").json() == {"rules": []}
    assert [r["rule_id"] for r in client.get("/v1/rules", headers=ACME).json()["rules"]] == [
        "viewers"
    ]


def test_post_needs_a_new_rule_id_and_delete_removes(client: TestClient) -> None:
    assert client.post("/v1/rules", json=TAG, headers=ACME).status_code == 400
    assert client.post("/v1/rules", json={**TAG, "rule_id": "v"}, headers=ACME).status_code == 201
    assert client.post("/v1/rules", json={**TAG, "rule_id": "v"}, headers=ACME).status_code == 409
    deleted = client.delete("/v1/rules/v", headers=ACME)
    assert deleted.json() == {"rule_id": "v", "deleted": True, "version": 2}
    assert client.get("/v1/rules/v", headers=ACME).status_code == 404
    assert client.delete("/v1/rules/v", headers=ACME).status_code == 404
    again = client.post("/v1/rules", json={**TAG, "rule_id": "v"}, headers=ACME)
    assert again.status_code == 201 and again.json()["version"] == 3


def test_invalid_rules_name_the_field(client: TestClient) -> None:
    answer = client.put(
        "/v1/rules/w", json={"kind": "workflow", "when": {"name": "x"}}, headers=ACME
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_rule",
        "errors": [{"field": "workflow_id", "reason": "Field required"}],
    }
    not_json = client.put("/v1/rules/w", content=b"{", headers=ACME)
    assert not_json.status_code == 400 and not_json.json()["errors"][0]["field"] == "body"
    assert client.get("/v1/rules", params={"kind": "x"}, headers=ACME).status_code == 400
