"""The Faust application: topics, tables and settings of the worker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from eventline.core.instance import instance_id
from eventline.core.settings import Settings
from eventline.core.topics import Topics
from eventline.schemas.accounts.service import Accounts
from eventline.schemas.rules.catalog import RuleCatalog
from eventline.streams.sending import Sender
from eventline.streams.table import Table, Tables


@dataclass
class Worker:
    """Everything the agents use: the app, its topics, its tables, the settings, the
    producer of outputs, and the followed topics (rules, and accounts for their tracking
    switches)."""

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
    identities: Table
    contacts: Table
    seen: Table
    identity_tables: Tables  # the resolver's (incoming partitions)
    contact_tables: Tables  # the by-contact agent's
    sender: Sender
    rules: RuleCatalog
    accounts: Accounts
    segment_clock: Any = None  # timers.SegmentClock, set by agents


def create_worker(settings: Settings) -> Worker:
    """Build the Faust app for ``settings`` (agents are attached by ``agents``)."""
    names = Topics(settings.topic_prefix)
    app = faust.App(
        names.worker_app_id,
        broker=f"kafka://{settings.bootstrap()}",
        # at-least-once, with idempotent effects: exactly_once is unreliable (faust #517, #323).
        processing_guarantee="at_least_once",
        producer_acks=-1,
        # aiokafka's own default, above eventline.schemas.limits.MAX_MESSAGE_BYTES (what an output
        # may be, checked before it is sent) by more than a batch's overhead.
        producer_max_request_size=1_048_576,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # Topics and changelogs are created by eventline.core.topics with our settings.
        topic_allow_declare=False,
        datadir=str(settings.home.resolve() / "worker"),
        web_enabled=False,  # metrics are served by prometheus-client instead
        key_serializer="raw",
        value_serializer="raw",
        stream_wait_empty=False,
        # Outputs are sent by eventline.streams.sending; a batch is acked (and so committable) only
        # when Kafka has acknowledged its outputs. Faust's attachments (stream_publish_on_commit)
        # are not used: at shutdown they can be dropped while the offset is committed.
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

    # Tables of our own (eventline.streams.table), on the changelogs Faust's tables had: written
    # once per batch. The contact holds its automation state (tags, history, segments:
    # eventline.streams.automation) in one value, so one changelog write keeps them consistent.
    bootstrap = settings.bootstrap()
    identities = Table("identities", names.changelog("identities"))
    contacts = Table("contacts", names.changelog("contacts"))
    seen = Table("seen", names.changelog("seen"))
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
        identities=identities,
        contacts=contacts,
        seen=seen,
        identity_tables=Tables(bootstrap, identities),
        contact_tables=Tables(bootstrap, contacts, seen),
        sender=Sender(bootstrap, on_written=_written(identities, contacts, seen)),
        rules=RuleCatalog(settings),
        accounts=Accounts(settings),
    )


def _written(*tables: Table) -> Any:
    by_topic = {table.changelog: table for table in tables}

    def written(topic: str, partition: int, offset: int) -> None:
        table = by_topic.get(topic)
        if table is not None:
            table.written(partition, offset)

    return written
