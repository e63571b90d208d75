-- Migration 0001: the analytics schema. Placeholders: {db}, {dedup_window}.
-- Migrations run once each, in order (sinks/store.py); statements are idempotent anyway.
--
-- Deduplication, twice over (see docs/architecture.md, "nothing doubled"):
--  1. Each sink batch carries insert_deduplication_token = hash of its Kafka offset ranges, and
--     non_replicated_deduplication_window keeps the last {dedup_window} tokens, so a retried
--     insert of the same batch is dropped by ClickHouse.
--  2. A replay after a crash may cut batches differently; ReplacingMergeTree's ORDER BY key is
--     the record's identity (events: the event id, whatever contact it resolved to), so
--     replayed rows collapse. Exact reads use FINAL (the views and the API do).
-- Statuses of one receipt are ordered by version = attempt * 10 + rank (received 1, a final
-- status 2), not by clocks: a re-drive's statuses outrank the first attempt's.

CREATE TABLE IF NOT EXISTS {db}.events
(
    account_id              LowCardinality(String),
    event_id                String,
    contact_id              String,
    name                    LowCardinality(String),
    occurred_at             DateTime64(3, 'UTC') COMMENT 'When the contact did it (client time)',
    received_at             DateTime64(3, 'UTC') COMMENT 'When the gateway accepted it',
    processed_at            DateTime64(3, 'UTC'),
    properties              String COMMENT 'JSON object, query with JSONExtract*(properties, ...)',
    value                   Nullable(Float64) COMMENT 'Monetary value',
    is_syncing              Bool COMMENT 'Backfilled: never triggers automations',
    source                  LowCardinality(String),
    idempotency_key         Nullable(String),
    contact_email           Nullable(String),
    contact_user_id         Nullable(String),
    contact_attributes      String COMMENT 'Contact attributes when processed (JSON object)',
    INDEX contact_idx contact_id TYPE bloom_filter GRANULARITY 4
)
ENGINE = ReplacingMergeTree(processed_at)
PARTITION BY toYear(occurred_at)
ORDER BY (account_id, event_id)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE IF NOT EXISTS {db}.incoming_events
(
    account_id              LowCardinality(String),
    event_id                String,
    receipt_id              String COMMENT 'One per acceptance: a resend has its own row',
    kind                    LowCardinality(String) COMMENT 'event, contact or identity',
    status                  LowCardinality(String) COMMENT 'received, processed, duplicate, rejected, failed',
    process_error           Nullable(String),
    source                  LowCardinality(String),
    idempotency_key         Nullable(String),
    email                   Nullable(String),
    user_id                 Nullable(String),
    contact_id              Nullable(String),
    name                    Nullable(String),
    occurred_at             Nullable(DateTime64(3, 'UTC')),
    received_at             DateTime64(3, 'UTC'),
    updated_at              DateTime64(6, 'UTC') COMMENT 'When this status was set',
    version                 UInt64 COMMENT 'attempt * 10 + status rank: the highest row wins',
    properties              String,
    value                   Nullable(Float64),
    is_syncing              Bool,
    attributes              String,
    attempt                 UInt32 COMMENT 'Re-drives so far',
    raw                     Nullable(String) COMMENT 'Raw input of a rejected request'
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(received_at)
ORDER BY (account_id, event_id, receipt_id)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE IF NOT EXISTS {db}.contacts
(
    account_id              LowCardinality(String),
    contact_id              String,
    email                   Nullable(String),
    user_id                 Nullable(String),
    attributes              String COMMENT 'JSON object',
    created_at              DateTime64(3, 'UTC'),
    updated_at              DateTime64(3, 'UTC'),
    last_change_id          String
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (account_id, contact_id)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE OR REPLACE VIEW {db}.events_daily AS
SELECT account_id, toDate(occurred_at) AS day, name,
       count() AS events, uniqExact(contact_id) AS contacts, sum(value) AS total_value
FROM {db}.events FINAL
GROUP BY account_id, day, name;

CREATE OR REPLACE VIEW {db}.event_failures AS
SELECT account_id, event_id, receipt_id, status, process_error, source, name, email, user_id,
       contact_id, received_at, updated_at, attempt, raw
FROM {db}.incoming_events FINAL
WHERE status IN ('failed', 'rejected');
