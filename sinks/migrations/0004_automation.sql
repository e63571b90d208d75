-- Migration 0004: what the rules did (issue 4). Tag changes, segment transitions and workflow
-- triggers, each keyed by its identity so that a replayed message collapses (read with FINAL
-- or through the views); and the contact's current tags.

ALTER TABLE {db}.contacts
    ADD COLUMN IF NOT EXISTS tags Array(String) DEFAULT [] COMMENT 'As tag rules set them';

CREATE TABLE IF NOT EXISTS {db}.tag_changes
(
    account_id              LowCardinality(String),
    contact_id              String,
    tag                     String,
    change                  LowCardinality(String) COMMENT 'added or removed',
    rule_id                 LowCardinality(String),
    event_id                String COMMENT 'The event that caused it',
    changed_at              DateTime64(3, 'UTC'),
    contact_email           Nullable(String),
    contact_user_id         Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(changed_at)
ORDER BY (account_id, contact_id, event_id, tag, change, rule_id)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE IF NOT EXISTS {db}.segment_transitions
(
    account_id              LowCardinality(String),
    segment_id              LowCardinality(String),
    contact_id              String,
    seq                     UInt32 COMMENT '1, 2, 3… per contact and segment: odd enters, even exits',
    transition              LowCardinality(String) COMMENT 'entered or exited',
    cause                   LowCardinality(String) COMMENT 'event, time or definition',
    event_id                Nullable(String),
    at                      DateTime64(3, 'UTC'),
    transition_id           String,
    contact_email           Nullable(String),
    contact_user_id         Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (account_id, segment_id, contact_id, seq)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE TABLE IF NOT EXISTS {db}.workflow_triggers
(
    account_id              LowCardinality(String),
    trigger_id              String,
    workflow_id             LowCardinality(String),
    rule_id                 LowCardinality(String),
    contact_id              String,
    contact_email           Nullable(String),
    contact_user_id         Nullable(String),
    contact_tags            Array(String),
    contact_segments        Array(String),
    event_id                String,
    event_name              LowCardinality(String),
    event_type              LowCardinality(Nullable(String)),
    event_properties        String COMMENT 'JSON object',
    event_value             Nullable(Float64),
    event_occurred_at       DateTime64(3, 'UTC'),
    personalization         String COMMENT 'JSON object: merge tag -> text',
    triggered_at            DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(triggered_at)
ORDER BY (account_id, trigger_id)
SETTINGS non_replicated_deduplication_window = {dedup_window};

CREATE OR REPLACE VIEW {db}.segment_members AS
SELECT account_id, segment_id, contact_id,
       argMax(at, seq) AS since, argMax(contact_email, seq) AS contact_email,
       argMax(contact_user_id, seq) AS contact_user_id
FROM {db}.segment_transitions FINAL
GROUP BY account_id, segment_id, contact_id
HAVING argMax(transition, seq) = 'entered';
