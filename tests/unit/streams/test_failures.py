"""Which errors of a record heal (retry, the partition waits) and which never will (fail the
record, move on): eventline.streams.failures, and the staging of outputs in
eventline.streams.sending."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    UnknownTopicOrPartitionError,
)
from faust.exceptions import ProducerSendError

from eventline.core.errors import InvalidEvent
from eventline.schemas.limits import MAX_MESSAGE_BYTES
from eventline.streams import sending
from eventline.streams.failures import heals, reason


def _wrapped(inner: Exception) -> Exception:
    """An error as Faust raises it: ProducerSendError from Kafka's own."""
    try:
        try:
            raise inner
        except Exception as exc:
            raise ProducerSendError(f"Error while sending: {exc!r}") from exc
    except ProducerSendError as outer:
        return outer


@pytest.mark.parametrize(
    "exc",
    [
        KafkaConnectionError("down"),
        KafkaTimeoutError(),
        NotLeaderForPartitionError(),
        UnknownTopicOrPartitionError(),
        ConnectionRefusedError(),
        TimeoutError(),
        _wrapped(KafkaConnectionError("down")),
    ],
)
def test_errors_of_the_cluster_heal(exc: Exception) -> None:
    assert heals(exc)


@pytest.mark.parametrize(
    "exc",
    [
        MessageSizeTooLargeError(),
        _wrapped(MessageSizeTooLargeError("The message is 1300000 bytes")),
        InvalidEvent("name", "is required"),
        KeyError("contact_id"),
        ValueError("bad"),
    ],
)
def test_errors_of_the_record_never_heal(exc: Exception) -> None:
    assert not heals(exc)


def test_the_reason_says_what_about_the_record_failed() -> None:
    assert reason(InvalidEvent("name", "is required")) == "name: is required"
    too_large = reason(_wrapped(MessageSizeTooLargeError("1300000 bytes")))
    assert too_large.startswith("Kafka refused an output of this record: MessageSizeTooLarge")
    assert reason(KeyError("x")) == "internal error: KeyError: 'x'"


class FakeTopic:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []

    def get_topic_name(self) -> str:
        return "t.workflows"

    async def send(self, key: bytes, value: bytes, force: bool) -> Any:
        self.sent.append((key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_outputs_are_only_staged_until_their_record_is_kept() -> None:
    topic = FakeTopic()
    sending.begin_record()
    await sending.send(topic, "k", b"v1")
    await sending.send("t.tags", "k", b"v2")
    assert sending.keep() == [("t.workflows", b"k", b"v1"), ("t.tags", b"k", b"v2")]
    assert sending.keep() == []


async def test_an_output_kafka_would_refuse_fails_the_record_before_anything_is_sent() -> None:
    topic = FakeTopic()
    sending.begin_record()
    await sending.send(topic, "k", b"small")
    with pytest.raises(InvalidEvent, match=r"output on t\.workflows would be \d+ bytes"):
        await sending.send(topic, "k", b"x" * MAX_MESSAGE_BYTES)
    sending.discard()
    assert sending.keep() == []


async def test_an_output_lost_after_the_producers_retries_stops_the_worker_unacked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lost: list[str] = []
    monkeypatch.setattr(sending, "on_output_lost", lambda where, exc: lost.append(where))
    # No broker on this port: the producer gives up after its message timeout.
    sender = sending.Sender("127.0.0.1:9", config={"message.timeout.ms": 200, "log_level": 0})
    try:
        written = await sender.deliver("t[0]@1+2", [("t", b"k", b"v")], [("c", 0, b"k", None)])
    finally:
        sender.close(0)
    assert lost == ["t[0]@1+2"]
    assert written is False  # the batch is not acked: no commit passes the lost output
