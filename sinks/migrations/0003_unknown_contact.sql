-- Migration 0003: an incoming record's own unknown-contact rule ('fail' for ActiveCampaign
-- events, which must name an existing contact), kept so that a re-drive obeys it too.

ALTER TABLE {db}.incoming_events
    ADD COLUMN IF NOT EXISTS unknown_contact LowCardinality(Nullable(String))
    COMMENT 'fail: this record must name an existing contact, whatever the account policy';
