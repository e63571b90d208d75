"""The one typed settings object, read from ``EVENTLINE_*`` environment variables."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

UnknownContactPolicy = Literal["create", "fail"]
ClockMode = Literal["system", "adjustable"]


class Settings(BaseSettings):
    """Every knob of eventline. Each field is documented in the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix="EVENTLINE_", extra="ignore")

    # --- where state lives -------------------------------------------------------------
    home: Path = Field(
        default=Path(".eventline"),
        description="Folder for local state: Kafka jars and data, embedded ClickHouse, logs.",
    )

    # --- Kafka --------------------------------------------------------------------------
    kafka_bootstrap: str | None = Field(
        default=None,
        description="Kafka bootstrap servers. Unset: the project's own local broker is used.",
    )
    kafka_version: str = Field(
        default="4.1.1", description="Apache Kafka version of the local broker."
    )
    kafka_jars_dir: Path | None = Field(
        default=None,
        description="Where Maven puts the broker jars (default: <home>/kafka/libs-<version>).",
    )
    local_kafka_port: int = Field(default=19092, description="Client port of the local broker.")
    local_kafka_controller_port: int = Field(default=19093, description="KRaft controller port.")
    local_kafka_heap: str = Field(default="768m", description="JVM heap of the local broker.")
    topic_prefix: str = Field(default="eventline", description="Prefix of every topic name.")
    partitions: int = Field(default=3, ge=1, description="Partitions of every pipeline topic.")
    replication_factor: int = Field(
        default=1, ge=1, description="Replication factor of created topics (3 in production)."
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="min.insync.replicas of topics (unset: min(2, replication factor)).",
    )
    produce_timeout_s: float = Field(
        default=10.0, gt=0, description="How long the gateway waits for Kafka's ack before 503."
    )

    # --- ClickHouse ---------------------------------------------------------------------
    clickhouse_url: str | None = Field(
        default=None,
        description="ClickHouse HTTP URL (http://user:pass@host:8123). Unset: embedded chDB.",
    )
    clickhouse_database: str = Field(default="eventline", description="ClickHouse database.")
    clickhouse_dedup_window: int = Field(
        default=10000, ge=1, description="Insert blocks remembered for retried-insert dedup."
    )

    # --- pipeline behaviour -------------------------------------------------------------
    unknown_contact: UnknownContactPolicy = Field(
        default="create",
        description="What an event for an unknown contact does: create the contact, or fail.",
    )
    unknown_contact_by_account: dict[str, UnknownContactPolicy] = Field(
        default_factory=dict,
        description='Per-account override of unknown_contact, JSON: {"acme": "fail"}.',
    )
    idempotency_window_hours: int = Field(
        default=168, ge=1, description="How long an idempotency key is remembered (hours)."
    )
    bulk_max_events: int = Field(default=1000, ge=1, description="Largest bulk request accepted.")
    body_max_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body (bytes) of a route without a limit of its own (one "
        "event or contact, dialect calls, admin); larger is 413, refused before it is read.",
    )
    bulk_body_max_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        description="Largest body (bytes) of the bulk routes: POST /v1/events and MailerPath's "
        "/api/v1/client/events/bulk (Segment's own limits apply on its routes: 32 KB a call, "
        "500 KB a batch).",
    )
    rules_body_max_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest body (bytes) of a rule (PUT/POST /v1/rules).",
    )
    body_timeout_s: float = Field(
        default=15.0,
        gt=0,
        description="Longest time to receive a whole request body (seconds): a slower or "
        "half-sent body is answered 408 and its connection closed.",
    )
    default_account: str = Field(
        default="default", description="Account used when a request names none."
    )
    open_access: bool = Field(
        default=True,
        description="Requests without an API key act for X-Eventline-Account (or the default "
        "account). Set false in production: every request then needs an API key.",
    )
    open_access_beyond_loopback: bool = Field(
        default=False,
        description="Allow open access on a gateway host other than loopback (anyone who "
        "reaches the port then acts for any account and creates keys). Off: such a gateway "
        "refuses to start.",
    )
    admin_token: str | None = Field(
        default=None,
        description="Bearer token of the admin API (/v1/accounts). Unset: admin API from "
        "loopback clients only.",
        repr=False,
    )

    # --- automation: tags, segments, workflow triggers -----------------------------------
    history_days: int = Field(
        default=365,
        ge=1,
        description="How far back a contact's event history is kept for segment conditions "
        "(days); no segment window may be longer.",
    )
    history_max_events: int = Field(
        default=200,
        ge=1,
        description="Most events kept per contact for segment conditions (the oldest go first).",
    )
    trigger_late_cutoff_s: float = Field(
        default=86400.0,
        gt=0,
        description="An event received longer than this after it occurred (seconds) updates "
        "history, tags and segments but fires no workflow trigger.",
    )
    segment_check_interval_s: float = Field(
        default=1.0,
        gt=0,
        description="How often the worker looks for contacts whose segments time alone may "
        "change (a window passing).",
    )
    rules_wait_s: float = Field(
        default=10.0,
        gt=0,
        description="Longest wait of the worker for rule and account changes made before an "
        "event was received, before it goes on with what it has.",
    )
    clock: ClockMode = Field(
        default="system",
        description="The deployment's clock: system time, or system time plus an offset that "
        "'eventline clock advance' moves forward (tests and demos of time-based segments).",
    )

    # --- services -----------------------------------------------------------------------
    gateway_host: str = Field(default="127.0.0.1", description="Gateway bind address.")
    gateway_port: int = Field(default=8000, description="Gateway port (also serves /metrics).")
    gateway_max_connections: int = Field(
        default=1000,
        ge=1,
        description="Most concurrent connections and requests the gateway serves (uvicorn's "
        "limit_concurrency); past it, 503 at once.",
    )
    gateway_processes: int = Field(
        default=2,
        ge=1,
        description="Gateway processes serving the one port (a listening socket they share, "
        "each with its own Kafka producer; EVENTLINE_GATEWAY_MAX_CONNECTIONS applies to each). "
        "They never run in the process of the sink or the worker; about one per core.",
    )
    member_index_max: int = Field(
        default=10_000_000,
        ge=0,
        description="Most subscriber hashes each gateway process keeps in its member index "
        "(about 12 bytes each), which answers Mailchimp's 404 for an unknown member at once; "
        "past it, events for unknown hashes are accepted and failed by the worker instead.",
    )
    member_index_wait_s: float = Field(
        default=5.0,
        gt=0,
        description="How long a gateway process reads the members topic up to its end before "
        "it answers 404 for a hash it does not know; past it, the event is accepted (the "
        "worker fails it if the hash names no one).",
    )
    gateway_access_log: bool = Field(
        default=False,
        description="Log one line per request (uvicorn's access log): about a tenth of a "
        "single post's cost, so off by default; /metrics counts requests.",
    )
    worker_metrics_port: int = Field(default=9101, description="Worker Prometheus port.")
    sink_metrics_port: int = Field(
        default=9102,
        description="Prometheus port of the process that runs the sink ('eventline up' or "
        "'eventline sink', on 127.0.0.1); the gateway's own metrics stay on its port.",
    )
    worker_log_level: Literal["crit", "error", "warn", "info", "debug"] = Field(
        default="warn", description="Faust worker log level (worker log: <home>/worker.log)."
    )
    worker_commit_interval_s: float = Field(
        default=0.25,
        gt=0,
        description="How often the worker commits the offsets of finished events.",
    )
    worker_batch_size: int = Field(
        default=1000,
        ge=1,
        description="Most records an agent of the worker handles at once: their outputs and "
        "table changes are sent together and acked together.",
    )
    worker_batch_wait_s: float = Field(
        default=0.005,
        gt=0,
        description="How long an agent waits for a batch to fill before it handles what it has "
        "(adds at most this much latency per stage when the worker is idle).",
    )
    worker_session_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Kafka session timeout of the worker and the sink: how long the partitions "
        "of a process that died and does not come back stay unowned (a restarted one takes "
        "them back at once).",
    )
    instance_id: str | None = Field(
        default=None,
        description="This process's name in its consumer group (static membership). Unset: "
        "<host>-<home folder>-<slot>, a slot per process running from the same home.",
    )
    stall_after_s: float = Field(
        default=60.0,
        gt=0,
        description="A partition of the worker or the sink whose records wait and that has not "
        "moved for this long is reported stalled by /health.",
    )
    sink_batch_size: int = Field(
        default=10_000,
        ge=1,
        description="Records per sink batch (one insert per table): larger batches cost "
        "less per row; a batch never waits longer than the batch wait to fill.",
    )
    sink_batch_wait_s: float = Field(
        default=0.5, gt=0, description="Longest wait to fill a sink batch."
    )

    def bootstrap(self) -> str:
        """The Kafka bootstrap servers in effect (the local broker when none is configured)."""
        return self.kafka_bootstrap or f"127.0.0.1:{self.local_kafka_port}"

    def insync_replicas(self) -> int:
        """min.insync.replicas in effect: with acks=all, a write survives losing one broker."""
        return self.min_insync_replicas or min(2, self.replication_factor)

    def policy_for(self, account: str) -> UnknownContactPolicy:
        """The unknown-contact policy of one account."""
        return self.unknown_contact_by_account.get(account, self.unknown_contact)

    @property
    def uses_local_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def uses_embedded_clickhouse(self) -> bool:
        return self.clickhouse_url is None


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as EVENTLINE_* variables, so a child process sees the same configuration."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        text = json.dumps(value) if isinstance(value, dict) else str(value)
        env[f"EVENTLINE_{name.upper()}"] = text
    env["EVENTLINE_HOME"] = str(settings.home.resolve())
    return env


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once from the environment."""
    return Settings()


def explain(error: ValidationError) -> str:
    """One line per refused setting, naming the variable the user set (not the field)."""
    parts = []
    for item in error.errors():
        name = f"EVENTLINE_{str(item['loc'][0]).upper()}" if item.get("loc") else "a setting"
        shown = item.get("input")
        value = f"={shown!r}" if isinstance(shown, str | int | float) else ""
        parts.append(f"{name}{value}: {item['msg']}")
    return "; ".join(parts)


def markdown_table() -> str:
    """The configuration table of the README, generated from the fields above."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        shown = "unset" if default is None else f"`{default}`" if default != {} else "`{}`"
        lines.append(f"| `EVENTLINE_{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
