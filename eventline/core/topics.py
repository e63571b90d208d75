"""Topic names, their keys, and their creation with the settings we want (never broker defaults)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from eventline.core.errors import ConfigurationError, KafkaUnreachable
from eventline.core.settings import Settings

log = logging.getLogger(__name__)


def admin_client(bootstrap: str) -> AdminClient:
    """An admin client whose librdkafka logs go to Python logging, not raw stderr."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "logger": logging.getLogger("librdkafka"),
    }
    return AdminClient(config)


# Faust names table changelogs "<app id>-<table>-changelog"; we create them ourselves so they
# get our replication settings and compaction only (pitfalls: faust #651/#597 hang on deleted
# changelog segments).
TABLES = ("identities", "contacts", "seen")

# The accounts and rules topics' changes are deleted once a checkpoint holds them
# (eventline/core/fold.py). Kafka cleans a record only when it and the tombstone that deletes it
# are older than this, so a reader less than this far behind never misses a change it has
# not read yet.
ACCOUNTS_COMPACTION_LAG_MS = 3_600_000


@dataclass(frozen=True)
class Topics:
    """Every topic of one deployment, derived from the configured prefix."""

    prefix: str

    @property
    def incoming(self) -> str:
        """Accepted requests, keyed by routing identity (account/email|user|contact/value)."""
        return f"{self.prefix}.incoming"

    @property
    def by_contact(self) -> str:
        """Resolved requests, keyed by account/contact_id."""
        return f"{self.prefix}.by-contact"

    @property
    def events(self) -> str:
        """Canonical events, keyed by account/contact_id: the stream automation consumes."""
        return f"{self.prefix}.events"

    @property
    def contacts(self) -> str:
        """Contact state (compacted), keyed by account/contact_id."""
        return f"{self.prefix}.contacts"

    @property
    def members(self) -> str:
        """Subscriber hashes that name a contact (compacted), keyed account/md5/<hash>:
        written with each registration's hash claim, read by every gateway process
        (producers/members.py)."""
        return f"{self.prefix}.members"

    @property
    def event_status(self) -> str:
        """Status changes of incoming records, keyed by event_id."""
        return f"{self.prefix}.event-status"

    @property
    def accounts(self) -> str:
        """Accounts and API keys (compacted), keyed by account/<id> or key/<key id>."""
        return f"{self.prefix}.accounts"

    @property
    def rules(self) -> str:
        """Tag, segment and workflow rules (compacted): changes and checkpoints of each
        rule, on the partition of account/rule_id (schemas/rules/ledger.py)."""
        return f"{self.prefix}.rules"

    @property
    def tags(self) -> str:
        """Tag changes (TagChange), keyed by account/contact_id: for automation services."""
        return f"{self.prefix}.tags"

    @property
    def segments(self) -> str:
        """Segment entries and exits (SegmentTransition), keyed by account/contact_id."""
        return f"{self.prefix}.segments"

    @property
    def workflows(self) -> str:
        """Workflow triggers (WorkflowTrigger), keyed by account/contact_id."""
        return f"{self.prefix}.workflows"

    @property
    def clock(self) -> str:
        """The adjustable clock's offset (compacted; read only with EVENTLINE_CLOCK=adjustable)."""
        return f"{self.prefix}.clock"

    @property
    def worker_app_id(self) -> str:
        return f"{self.prefix}-worker"

    @property
    def sink_group(self) -> str:
        """The ClickHouse sink's consumer group."""
        return f"{self.prefix}-clickhouse-sink"

    def worker_inputs(self) -> list[str]:
        """The topics the worker's agents consume."""
        return [self.incoming, self.by_contact]

    def sink_inputs(self) -> list[str]:
        """The topics the sink writes to ClickHouse."""
        return [
            self.incoming,
            self.event_status,
            self.events,
            self.contacts,
            self.tags,
            self.segments,
            self.workflows,
        ]

    def changelog(self, table: str) -> str:
        return f"{self.worker_app_id}-{table}-changelog"

    @property
    def worker_leader(self) -> str:
        """Faust's leader-election topic (one partition); created here since Faust may not."""
        return f"{self.worker_app_id}-__assignor-__leader"

    def all(self) -> dict[str, dict[str, str]]:
        """Topic name -> topic config, for every topic the pipeline needs."""
        compacted = {"cleanup.policy": "compact"}
        topics: dict[str, dict[str, str]] = {
            self.incoming: {},
            self.by_contact: {},
            self.events: {},
            self.contacts: dict(compacted),
            self.members: dict(compacted),
            self.event_status: {},
            self.accounts: {**compacted, "min.compaction.lag.ms": str(ACCOUNTS_COMPACTION_LAG_MS)},
            self.rules: {**compacted, "min.compaction.lag.ms": str(ACCOUNTS_COMPACTION_LAG_MS)},
            self.tags: {},
            self.segments: {},
            self.workflows: {},
            self.clock: dict(compacted),
        }
        for table in TABLES:
            topics[self.changelog(table)] = dict(compacted)
        return topics


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> Topics:
    """Create missing topics; refuse to run when an existing one has another partition count.

    Every topic has the same partition count because the worker's joins rely on it: a key
    lands on the same partition number of every topic (co-partitioning).
    """
    topics = Topics(settings.topic_prefix)
    admin = admin_client(settings.bootstrap())
    existing = _reachable_topics(admin, settings.bootstrap(), timeout_s)
    for name in topics.all():
        if name in existing and len(existing[name].partitions) != settings.partitions:
            raise ConfigurationError(
                f"topic {name} has {len(existing[name].partitions)} partitions, "
                f"EVENTLINE_PARTITIONS says {settings.partitions}: co-partitioning would break"
            )
    _align_configs(admin, {n: c for n, c in topics.all().items() if n in existing}, timeout_s)
    wanted = {name: (settings.partitions, config) for name, config in topics.all().items()}
    wanted[topics.worker_leader] = (1, {})
    new = [
        NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=settings.replication_factor,
            config={"min.insync.replicas": str(settings.insync_replicas()), **config},
        )
        for name, (partitions, config) in wanted.items()
        if name not in existing
    ]
    if new:
        for name, future in admin.create_topics(new, operation_timeout=timeout_s).items():
            try:
                future.result(timeout=timeout_s)
                log.info("created topic %s", name)
            except Exception as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise ConfigurationError(f"cannot create topic {name}: {exc}") from exc
    return topics


def _reachable_topics(admin: AdminClient, bootstrap: str, timeout_s: float) -> dict[str, Any]:
    """The cluster's topics; a broker that does not answer is one readable error, and a slow
    one says what it waits for instead of staying silent for the whole timeout."""
    first = min(5.0, timeout_s)
    try:
        return dict(admin.list_topics(timeout=first).topics)
    except KafkaException:
        if timeout_s <= first:
            raise KafkaUnreachable(bootstrap, timeout_s) from None
    log.warning("no answer yet from Kafka at %s; waiting %.0fs more", bootstrap, timeout_s - first)
    try:
        return dict(admin.list_topics(timeout=timeout_s - first).topics)
    except KafkaException:
        raise KafkaUnreachable(bootstrap, timeout_s) from None


def _align_configs(
    admin: AdminClient, declared: dict[str, dict[str, str]], timeout_s: float
) -> None:
    """Give existing topics the configs we declare (a later version may declare more than
    the one that created them); other configs are left as they are."""
    declared = {name: config for name, config in declared.items() if config}
    if not declared:
        return
    described = admin.describe_configs(
        [ConfigResource("topic", name) for name in declared], request_timeout=timeout_s
    )
    changes = []
    for resource, future in described.items():
        current = future.result(timeout=timeout_s)
        wrong = {
            key: value
            for key, value in declared[resource.name].items()
            if key not in current or current[key].value != value
        }
        if wrong:
            entries = [
                ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                for k, v in wrong.items()
            ]
            changes.append(ConfigResource("topic", resource.name, incremental_configs=entries))
    if changes:
        for resource, future in admin.incremental_alter_configs(changes).items():
            future.result(timeout=timeout_s)
            log.info("set %s on topic %s", resource.incremental_configs, resource.name)
