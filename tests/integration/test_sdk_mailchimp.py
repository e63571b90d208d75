"""Mailchimp's own Python SDKs against the real pipeline, used as their READMEs do; only the
base URL and the key are changed.

- mailchimp-marketing (the official client): ``Client()``, ``set_config({"api_key",
  "server"})``; its base URL is ``client.api_client.host`` (it has no setting for it).
- mailchimp3: ``MailChimp(mc_api=..., mc_user=...)``, which refuses a key that is not 32 hex
  digits, a dash and a datacenter: the account mints a key of the ``mailchimp`` shape. Its
  base URL is ``client.base_url`` (it builds it from the key's datacenter otherwise).

The flow each SDK user writes: an event for a member the list does not have is 404 (the
SDK's own error), so add the member and retry; then read the member's events back.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import mailchimp_marketing as MailchimpMarketing  # as its README imports it
import pytest
from mailchimp3 import MailChimp
from mailchimp3.mailchimpclient import MailChimpError
from mailchimp_marketing.api_client import ApiClientError

from eventline.processes.pipeline import Pipeline
from tests.integration.helpers import eventually, unique_email

LIST_ID = "57afe96172"


def _account(http: httpx.Client) -> str:
    account = f"sdk-{uuid.uuid4().hex[:8]}"
    assert http.post("/v1/accounts", json={"account_id": account}).status_code == 201
    return account


def _key(http: httpx.Client, account: str, shape: str) -> str:
    answer = http.post(f"/v1/accounts/{account}/keys", json={"label": "sdk", "shape": shape})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])


def _marketing(pipeline: Pipeline, api_key: str, server: str = "us1") -> Any:
    assert pipeline.gateway is not None
    client = MailchimpMarketing.Client()
    client.set_config({"api_key": api_key, "server": server})
    client.api_client.host = f"{pipeline.gateway.url}/3.0"  # the base URL, changed
    return client


def _mailchimp3(pipeline: Pipeline, api_key: str) -> MailChimp:
    assert pipeline.gateway is not None
    client = MailChimp(mc_api=api_key, mc_user="any")
    client.base_url = f"{pipeline.gateway.url}/3.0/"  # the base URL, changed
    return client


def _md5(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


@pytest.mark.parametrize("shape", ["eventline", "mailchimp"])
def test_mailchimp_marketing_adds_the_member_on_404_and_retries(
    pipeline: Pipeline, http: httpx.Client, shape: str
) -> None:
    key = _key(http, _account(http), shape)
    client = _marketing(pipeline, f"{key}-us1" if shape == "eventline" else key)
    email = unique_email("Marketing")
    member = _md5(email)
    event = {"name": "registered_referral", "properties": {"referral_code": "GAMER42"}}

    with pytest.raises(ApiClientError) as unknown:
        client.lists.create_list_member_event(LIST_ID, member, event)
    assert unknown.value.status_code == 404
    assert unknown.value.text["title"] == "Resource Not Found"

    added = client.lists.add_list_member(
        LIST_ID, {"email_address": email, "status": "subscribed", "merge_fields": {"FNAME": "A"}}
    )
    assert added["id"] == member and added["status"] == "subscribed"
    assert added["merge_fields"] == {"FNAME": "A"}
    with pytest.raises(ApiClientError) as exists:
        client.lists.add_list_member(LIST_ID, {"email_address": email, "status": "subscribed"})
    assert exists.value.status_code == 400 and exists.value.text["title"] == "Member Exists"

    retried = client.lists.create_list_member_event(LIST_ID, member, event)
    assert retried.status_code == 204

    def listed() -> dict[str, Any] | None:
        try:
            found = client.lists.get_list_member_events(
                LIST_ID, email.upper(), fields=["events.name", "total_items"]
            )
        except ApiClientError:
            return None  # the sink has not stored it yet
        return found if found["total_items"] == 1 else None

    found = eventually(listed, what="the event listed through the SDK")
    assert found == {"events": [{"name": "registered_referral"}], "total_items": 1}
    stored = eventually(
        lambda: _quietly(lambda: client.lists.get_list_member(LIST_ID, member)),
        what="the member read through the SDK",
    )
    assert stored["email_address"] == email.lower() and stored["merge_fields"] == {"FNAME": "A"}


def test_mailchimp_marketing_sees_404_400_and_401_as_its_own_errors(
    pipeline: Pipeline, http: httpx.Client
) -> None:
    key = _key(http, _account(http), "mailchimp")
    client = _marketing(pipeline, key)
    email = unique_email("errors")
    client.lists.set_list_member(
        LIST_ID, _md5(email), {"email_address": email, "status_if_new": "subscribed"}
    )
    with pytest.raises(ApiClientError) as typo:
        client.lists.create_list_member_event(LIST_ID, _md5(email)[:30], {"name": "login"})
    assert typo.value.status_code == 404
    with pytest.raises(ApiClientError) as invalid:
        client.lists.create_list_member_event(LIST_ID, _md5(email), {"name": "bad name!"})
    assert invalid.value.status_code == 400
    assert invalid.value.text["errors"][0]["field"] == "name"
    wrong = _marketing(pipeline, "0" * 32 + "-us1")
    with pytest.raises(ApiClientError) as refused:
        wrong.lists.create_list_member_event(LIST_ID, _md5(email), {"name": "login"})
    assert refused.value.status_code == 401
    assert refused.value.text["title"] == "API Key Invalid"


def test_mailchimp3_adds_the_member_on_404_and_retries(
    pipeline: Pipeline, http: httpx.Client
) -> None:
    key = _key(http, _account(http), "mailchimp")
    client = _mailchimp3(pipeline, key)  # its constructor checks the key's shape
    email = unique_email("three")
    event = {"name": "purchased_merch", "properties": {"sku": "MUG-1"}}

    with pytest.raises(MailChimpError) as unknown:
        client.lists.members.events.create(LIST_ID, email, event)
    assert unknown.value.args[0]["status"] == 404
    assert unknown.value.args[0]["title"] == "Resource Not Found"

    client.lists.members.create_or_update(
        LIST_ID, _md5(email), {"email_address": email, "status_if_new": "subscribed"}
    )
    assert client.lists.members.events.create(LIST_ID, email, event) is None  # 204

    def listed() -> dict[str, Any] | None:
        try:
            found = client.lists.members.events.all(LIST_ID, _md5(email), fields="events.name")
        except MailChimpError:
            return None
        return found if found["events"] else None

    assert eventually(listed, what="the event listed through mailchimp3") == {
        "events": [{"name": "purchased_merch"}]
    }


def test_mailchimp3_sees_404_400_and_401_as_its_own_errors(
    pipeline: Pipeline, http: httpx.Client
) -> None:
    key = _key(http, _account(http), "mailchimp")
    client = _mailchimp3(pipeline, key)
    email = unique_email("three-errors")
    client.lists.members.create(LIST_ID, {"email_address": email, "status": "subscribed"})
    assert client.lists.members.events.create(LIST_ID, _md5(email), {"name": "login"}) is None
    typo = _md5(email)[:30]
    with pytest.raises(ValueError, match="not a valid email"):  # mailchimp3 checks it first
        client.lists.members.events.create(LIST_ID, typo, {"name": "login"})
    with pytest.raises(MailChimpError) as sent:  # sent anyway, with the SDK's own request
        client._post(url=f"lists/{LIST_ID}/members/{typo}/events", data={"name": "login"})
    assert sent.value.args[0]["status"] == 404
    with pytest.raises(MailChimpError) as invalid:
        client.lists.members.events.create(LIST_ID, _md5(email), {"name": "bad name!"})
    assert invalid.value.args[0]["status"] == 400
    wrong = _mailchimp3(pipeline, "0" * 32 + "-us1")
    with pytest.raises(MailChimpError) as refused:
        wrong.lists.members.events.create(LIST_ID, _md5(email), {"name": "login"})
    assert refused.value.args[0]["status"] == 401


def _quietly(call: Any) -> Any:
    try:
        return call()
    except ApiClientError:
        return None
