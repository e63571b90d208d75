-- Migration 0002: events carry an optional event type (a fixed vocabulary: MailerPath's event
-- types, Emma's event_type) beside their free name.

ALTER TABLE {db}.events
    ADD COLUMN IF NOT EXISTS event_type LowCardinality(Nullable(String))
    COMMENT 'Type in a fixed vocabulary, when the sender gave one';

ALTER TABLE {db}.incoming_events
    ADD COLUMN IF NOT EXISTS event_type LowCardinality(Nullable(String));

-- The identity key a record was addressed by when the body names none (a Mailchimp subscriber
-- hash): kept so that a failed record can be re-driven.
ALTER TABLE {db}.incoming_events
    ADD COLUMN IF NOT EXISTS route_key Nullable(String)
    COMMENT 'Identity key the record was sent under, when its fields name no contact';
