"""The Faust application: topics, tables and settings of the worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from eventline.instance import instance_id
from eventline.settings import Settings
from eventline.topics import Topics
from producers.accounts.service import Accounts
from streams.rules.catalog import RuleCatalog


@dataclass
class Worker:
    """Everything the agents use: the app, its topics, its tables, the settings, and the
    followed topics (rules, and accounts for their tracking switches)."""

    settings: Settings
    names: Topics
    app: faust.App
    incoming: Any
    by_contact: Any
    events: Any
    contacts_out: Any
    status: Any
    tags_out: Any
    segments_out: Any
    workflows_out: Any
    identities: Any
    contacts: Any
    seen: Any
    rules: RuleCatalog
    accounts: Accounts
    segment_clock: Any = None  # streams.timers.SegmentClock, set by streams.agents


def create_worker(settings: Settings) -> Worker:
    """Build the Faust app for ``settings`` (agents are attached by ``streams.agents``)."""
    names = Topics(settings.topic_prefix)
    app = faust.App(
        names.worker_app_id,
        broker=f"kafka://{settings.bootstrap()}",
        store=settings.worker_store,
        # at-least-once, with idempotent effects: exactly_once is unreliable (faust #517, #323).
        processing_guarantee="at_least_once",
        producer_acks=-1,
        # aiokafka's own default, above schemas.limits.MAX_MESSAGE_BYTES (what an output may
        # be, checked before it is sent) by more than a batch's overhead.
        producer_max_request_size=1_048_576,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # Topics and changelogs are created by eventline.topics with our settings.
        topic_allow_declare=False,
        datadir=str(settings.home.resolve() / "worker"),
        web_enabled=False,  # metrics are served by prometheus-client instead
        key_serializer="raw",
        value_serializer="raw",
        stream_wait_empty=False,
        # Outputs are sent at once; a record is acked (and so committable) only when Kafka has
        # acknowledged its outputs (streams.agents._ack_when_written). Faust's attachments
        # (stream_publish_on_commit) are not used: at shutdown they can be dropped while the
        # offset is committed.
        stream_publish_on_commit=False,
        broker_commit_interval=settings.worker_commit_interval_s,
        broker_session_timeout=settings.worker_session_timeout_s,
        # Static membership: a worker started again after a crash takes its partitions back
        # at once instead of waiting for the dead member's session to time out.
        consumer_group_instance_id=instance_id(settings, names.worker_app_id),
        broker_heartbeat_interval=min(3.0, settings.worker_session_timeout_s / 4),
    )

    def topic(name: str) -> Any:
        return app.topic(
            name, key_serializer="raw", value_serializer="raw", partitions=settings.partitions
        )

    def table(name: str) -> Any:
        # JSON keys and values: a key reads back as the same str after changelog recovery.
        schema = faust.Schema(key_serializer="json", value_serializer="json")  # type: ignore[var-annotated]
        return app.Table(name, default=None, schema=schema, partitions=settings.partitions)

    return Worker(
        settings=settings,
        names=names,
        app=app,
        incoming=topic(names.incoming),
        by_contact=topic(names.by_contact),
        events=topic(names.events),
        contacts_out=topic(names.contacts),
        status=topic(names.event_status),
        tags_out=topic(names.tags),
        segments_out=topic(names.segments),
        workflows_out=topic(names.workflows),
        identities=table("identities"),
        # The contact and its automation state (tags, history, segments: streams.automation)
        # in one value, so one changelog write keeps them consistent.
        contacts=table("contacts"),
        seen=table("seen"),
        rules=RuleCatalog(settings),
        accounts=Accounts(settings),
    )
