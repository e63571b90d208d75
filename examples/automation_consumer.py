"""An automation service, small enough to start from: it consumes eventline's output topics
and acts on them (here: prints the email it would send, the segment move, the tag change).

    .venv/bin/python examples/automation_consumer.py                 # the local pipeline
    .venv/bin/python examples/automation_consumer.py --bootstrap kafka:9092 --prefix eventline

What it shows (docs/automation.md is the contract):
- one consumer group per service; offsets committed only after a message was handled, so a
  crash means the message comes again (at least once), never that it is lost;
- repeats are dropped by the message's identity (``trigger_id``, ``transition_id``,
  ``event_id`` + ``tag`` + ``change`` + ``rule_id``); a real service keeps the handled ids
  in its own database, in the same transaction as its action;
- messages of one contact arrive in order (the key is ``account/contact_id``), so a service
  can keep per-contact state without locks;
- a workflow trigger carries everything an email needs: the contact, the event, and the merge
  tags of ``%EVENT:file download request%``-style personalization.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError

from eventline.core.errors import InvalidEvent
from eventline.schemas.codec import (
    codec,  # eventline's decoder: pip install eventline, or this checkout
)

SCHEMAS = {"workflows": "WorkflowTrigger", "segments": "SegmentTransition", "tags": "TagChange"}
TEMPLATES = {
    # workflow id -> the email it sends; %...% are merge tags of the trigger, and
    # %TAG|fallback% says what to write when the trigger does not carry TAG
    "referral-discount-email": "Hi %CONTACT:first_name|there%, thanks for referring a friend "
    "(code %EVENT:registered_referral.referral_code%): here is 20% off our merch.",
    "send-file": "Hello! Here is your file link: %EVENT:file download request%",
}
MERGE_TAG = re.compile(r"%([A-Z]+:[^%|]+)(?:\|([^%]*))?%")


def merge_tags(trigger: dict[str, Any]) -> dict[str, str]:
    """The trigger's personalization, completed from its properties and attributes: the
    trigger of a very large event carries only the merge tags that fit in 32 KiB."""
    name = trigger["event_name"]
    scalar = (str, int, float, bool)
    attributes = json.loads(trigger["contact_attributes_json"]).items()
    properties = json.loads(trigger["event_properties_json"]).items()
    tags = {f"CONTACT:{k}": str(v) for k, v in attributes if isinstance(v, scalar)}
    tags.update({f"EVENT:{name}.{k}": str(v) for k, v in properties if isinstance(v, scalar)})
    tags[f"EVENT:{name}"] = trigger["event_eventdata"] or ""
    tags.update(json.loads(trigger["personalization_json"]))
    return tags


def render(template: str, merge_tags: dict[str, str]) -> str:
    """Replace each ``%TAG%`` the trigger knows; an unknown one becomes its fallback
    (``%TAG|fallback%``), or stays as written so that the gap shows."""

    def merge(match: re.Match[str]) -> str:
        tag, fallback = match.group(1), match.group(2)
        if tag in merge_tags:
            return merge_tags[tag]
        return fallback if fallback is not None else match.group(0)

    return MERGE_TAG.sub(merge, template)


def identity(kind: str, message: dict[str, Any]) -> str:
    """What makes a message the same message when it comes again."""
    if kind == "workflows":
        return str(message["trigger_id"])
    if kind == "segments":
        return str(message["transition_id"])
    return f"{message['event_id']}/{message['tag']}/{message['change']}/{message['rule_id']}"


def act(kind: str, message: dict[str, Any]) -> str:
    """The action for one message (here, a line describing it)."""
    who = message.get("contact_email") or message["contact_id"]
    if kind == "workflows":
        template = TEMPLATES.get(message["workflow_id"])
        if template is None:
            return f"start workflow {message['workflow_id']} for {who}"
        body = render(template, merge_tags(message))
        return f"email to {who} [{message['workflow_id']}]: {body}"
    if kind == "segments":
        return f"{who} {message['transition']} segment {message['segment_id']} ({message['cause']})"
    return f"{who}: tag {message['tag']} {message['change']} by rule {message['rule_id']}"


class Deduplicator:
    """The ids handled lately; a real service keeps them in its database instead."""

    def __init__(self, size: int = 100_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def first_time(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return True


def run(
    bootstrap: str,
    prefix: str,
    group: str,
    kinds: list[str],
    on_action: Callable[[str], None] = print,
    stop_after_idle_s: float | None = None,
) -> None:
    """Consume the chosen topics until interrupted (or idle for ``stop_after_idle_s``)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,  # commit after acting: at least once
            "auto.offset.reset": "earliest",
        }
    )
    topics = {f"{prefix}.{kind}": kind for kind in kinds}
    consumer.subscribe(list(topics))
    seen = Deduplicator()
    idle = 0.0
    try:
        while stop_after_idle_s is None or idle < stop_after_idle_s:
            msg = consumer.poll(0.5)
            if msg is None:
                idle += 0.5
                continue
            idle = 0.0
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    print(f"consume error: {error}", file=sys.stderr)
                continue
            kind = topics[msg.topic() or ""]
            try:
                message = codec().decode(SCHEMAS[kind], msg.value() or b"")
            except InvalidEvent as exc:  # not eventline's: say so and go on, never stop
                where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
                print(f"skipping a record that is not a {SCHEMAS[kind]} at {where}: {exc}")
            else:
                if seen.first_time(identity(kind, message)):
                    on_action(act(kind, message))
            consumer.commit(message=msg, asynchronous=False)
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:19092", help="Kafka servers")
    parser.add_argument("--prefix", default="eventline", help="EVENTLINE_TOPIC_PREFIX")
    parser.add_argument("--group", default="example-automation", help="consumer group")
    parser.add_argument(
        "--topics", default="workflows,segments,tags", help="any of workflows,segments,tags"
    )
    args = parser.parse_args()
    run(args.bootstrap, args.prefix, args.group, args.topics.split(","))


if __name__ == "__main__":
    main()
