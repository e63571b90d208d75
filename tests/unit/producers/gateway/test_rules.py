"""The rules API on a gateway whose Kafka writer is a fake (no broker)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from eventline.schemas.codec import codec
from eventline.schemas.rules import catalog
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
    rules = [(key, value) for topic, key, value in writer.records if topic == "eventline.rules"]
    # Each write is a change of its own, then a checkpoint of the rule through it; the
    # change is deleted once the checkpoint holds it.
    changes = [codec().decode("RuleChange", v) for k, v in rules if k.startswith("change/")]
    assert [(c["rule_id"], c["op"], json.loads(c["definition_json"])["add"]) for c in changes] == [
        ("viewers", "put", ["viewer"]),
        ("viewers", "put", ["fan"]),
    ]
    checkpoints = [
        (k, codec().decode("RuleEntry", v)) for k, v in rules if k.startswith("checkpoint/")
    ]
    assert [(k.rsplit("/", 1)[0], e["version"]) for k, e in checkpoints] == [
        ("checkpoint/acme/viewers", 1),
        ("checkpoint/acme/viewers", 2),
    ]
    assert checkpoints[-1][1] == {
        **checkpoints[-1][1],
        "definition_json": changes[-1]["definition_json"],
        "updated_at": changes[-1]["at"],
    }
    deleted = {k for t, k in writer.tombstones if t == "eventline.rules"}
    assert deleted == {f"change/acme/viewers/{c['change_id']}" for c in changes}
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


def test_rules_past_the_accounts_bound_are_refused_with_409(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catalog, "MAX_RULES", 2)
    for rule_id in ("a", "b"):
        assert client.put(f"/v1/rules/{rule_id}", json=TAG, headers=ACME).status_code == 201
    full = client.put("/v1/rules/c", json=TAG, headers=ACME)
    assert full.status_code == 409
    assert full.json()["detail"] == {  # as the API's other 404s and 409s
        "error": "too_many_rules",
        "reason": "account 'acme' has 2 rules, at most 2: delete one first",
    }
    posted = client.post("/v1/rules", json={**TAG, "rule_id": "c"}, headers=ACME)
    assert posted.status_code == 409 and posted.json()["detail"]["error"] == "too_many_rules"
    assert client.put("/v1/rules/a", json=TAG, headers=ACME).status_code == 200  # replaced
    client.delete("/v1/rules/a", headers=ACME)
    assert client.put("/v1/rules/c", json=TAG, headers=ACME).status_code == 201


def test_the_documented_bound_is_the_one_enforced(client: TestClient) -> None:
    described = client.get("/openapi.json").json()["paths"]["/v1/rules/{rule_id}"]["put"]
    assert f"{catalog.MAX_RULES:,} rules" in described["description"]
