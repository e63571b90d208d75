"""GET /health: can this gateway accept events (Kafka), and are the worker and the sink
keeping up (their consumer groups' progress), not only whether the process lives."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from eventline.core.groups import GroupWatch
from eventline.core.topics import admin_client
from eventline.producers.gateway.deps import Gateway

router = APIRouter(tags=["operations"])
LOOK_TIMEOUT_S = 3.0
CACHE_S = 2.0  # a load balancer polling every second costs Kafka one look per 2 s


class Health:
    """The gateway's view of the pipeline, refreshed at most every CACHE_S."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        topics = gateway.topics
        self.admin = admin_client(gateway.settings.bootstrap())
        self.worker = GroupWatch(self.admin, topics.worker_app_id, topics.worker_inputs())
        self.sink = GroupWatch(self.admin, topics.sink_group, topics.sink_inputs())
        self._cached: tuple[float, int, dict[str, Any]] | None = None
        # Its own thread: a Kafka brownout must not fill the pool the other handlers use.
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="health")
        self.one_at_a_time = asyncio.Lock()

    def look(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 503 only when Kafka does not answer (events cannot be
        accepted); a part that cannot be looked at reads "unknown" (degraded)."""
        if self._cached and time.monotonic() - self._cached[0] < CACHE_S:
            return self._cached[1], self._cached[2]
        stall_after = self.gateway.settings.stall_after_s
        body: dict[str, Any] = {"status": "ok"}
        try:
            brokers = self.admin.list_topics(timeout=LOOK_TIMEOUT_S).brokers
            body["kafka"] = {"status": "ok", "brokers": len(brokers)}
        except Exception as exc:
            body["kafka"] = {"status": "unreachable", "error": str(exc)[:300]}
        if body["kafka"]["status"] == "ok":
            for part, watch in (("worker", self.worker), ("sink", self.sink)):
                try:  # e.g. the group coordinator still loading after a broker restart
                    body[part] = watch.look(stall_after, LOOK_TIMEOUT_S).as_dict()
                except Exception as exc:
                    body[part] = {"status": "unknown", "error": str(exc)[:300]}
        if self.gateway.reads is not None:
            ok = self.gateway.reads.answers()
            body["clickhouse"] = {"status": "ok" if ok else "unreachable"}
        parts = [body[k]["status"] for k in ("kafka", "worker", "sink", "clickhouse") if k in body]
        if body["kafka"]["status"] != "ok":
            body["status"] = "unavailable"
        elif any(p != "ok" for p in parts):
            body["status"] = "degraded"
        code = 503 if body["status"] == "unavailable" else 200
        self._cached = (time.monotonic(), code, body)
        return code, body


@router.get(
    "/health",
    responses={
        200: {"description": "Accepting events; `status` is ok, or degraded (a part stalled)."},
        503: {"description": "Kafka does not answer: events cannot be accepted now."},
    },
)
async def health(request: Request) -> JSONResponse:
    """Kafka reachable; the worker's and the sink's lag, and any partition of theirs with
    waiting records that has not moved for EVENTLINE_STALL_AFTER_S; ClickHouse (when this
    process holds it)."""
    state = request.app.state
    if getattr(state, "health", None) is None:
        state.health = Health(state.gateway)
    health: Health = state.health
    async with health.one_at_a_time:  # concurrent probes share one look, on its own thread
        loop = asyncio.get_running_loop()
        code, body = await loop.run_in_executor(health.thread, health.look)
    return JSONResponse(status_code=code, content=body)
