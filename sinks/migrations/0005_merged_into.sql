-- Migration 0005: identity merge. The last row of a contact merged into another names the
-- contact that holds its history now; timelines of the target include the merged contacts'
-- events (sinks.queries.merged_sources).

ALTER TABLE {db}.contacts
    ADD COLUMN IF NOT EXISTS merged_into Nullable(String)
    COMMENT 'the contact this one was merged into (identity merge), else NULL';
