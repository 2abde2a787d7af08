-- As SQLite's V010 and V011: where an incident's messages are and the links they show, every event
-- for its timeline; a queued post may ping one member and reply to a message; a reaction finds its
-- request by message id.
ALTER TABLE incidents ADD COLUMN announcement_channel_id TEXT;
ALTER TABLE incidents ADD COLUMN announcement_id TEXT;
ALTER TABLE incidents ADD COLUMN opener_id TEXT;
ALTER TABLE incidents ADD COLUMN statuspage_url TEXT;
ALTER TABLE incidents ADD COLUMN pager_url TEXT;

CREATE TABLE incident_events (
    id           BIGSERIAL PRIMARY KEY,
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    at           TEXT NOT NULL,
    kind         TEXT NOT NULL,
    actor_id     TEXT,
    actor_name   TEXT,
    status       TEXT,
    text         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_events_of ON incident_events (incident_id, id);
CREATE INDEX deploys_started ON deploys (started_at);

ALTER TABLE announcements ADD COLUMN ping_user TEXT;
ALTER TABLE announcements ADD COLUMN reply_to TEXT;
CREATE INDEX operations_message ON operations (message_id) WHERE message_id IS NOT NULL;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'opscord_writer') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON incident_events TO opscord_writer;
        EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO opscord_writer', current_schema());
    END IF;
END
$$;
