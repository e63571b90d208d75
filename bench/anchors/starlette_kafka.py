"""Anchor: a Starlette handler that encodes the Avro IncomingRecord and produces it with
confluent-kafka, answering 202 after the delivery report (acks=all, idempotent, lz4)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from confluent_kafka import KafkaException, Producer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.anchors.records import ACCOUNT, incoming, producer_config
from eventline.schemas.codec import codec


def _app(bootstrap: str, topic: str) -> Starlette:
    # linger.ms=1 as a gateway batches: a client waits for each ack.
    producer = Producer(producer_config(bootstrap, **{"linger.ms": 1}))
    stop = threading.Event()

    def poll() -> None:  # delivery reports are served on this thread
        while not stop.is_set():
            producer.poll(0.1)

    async def accept(request: Request) -> JSONResponse:
        record = incoming(0, json.loads(await request.body()))
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def delivered(err: Any, _msg: Any) -> None:
            outcome = KafkaException(err) if err is not None else None
            loop.call_soon_threadsafe(_settle, done, outcome)

        producer.produce(
            topic,
            codec().encode("IncomingRecord", record),
            f"{ACCOUNT}/email/{record['email']}".encode(),
            on_delivery=delivered,
        )
        await done
        return JSONResponse({"event_id": record["event_id"]}, status_code=202)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        yield
        stop.set()
        producer.flush(10)

    return Starlette(routes=[Route("/v1/events", accept, methods=["POST"])], lifespan=lifespan)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


def serve(port: int, bootstrap: str, topic: str) -> None:
    """Serve until terminated (run in a process of its own)."""
    uvicorn.run(
        _app(bootstrap, topic), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
