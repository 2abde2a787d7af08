-- Incidents complete: where their messages are (the #incidents announcement, edited to the current
-- status, and the opener pinned in the thread), the links they show, and every event for the timeline.
-- (V009 is another change's number; migrations apply whichever recorded versions are missing.)
ALTER TABLE incidents ADD COLUMN announcement_channel_id TEXT;
ALTER TABLE incidents ADD COLUMN announcement_id TEXT;
ALTER TABLE incidents ADD COLUMN opener_id TEXT;
ALTER TABLE incidents ADD COLUMN statuspage_url TEXT;
ALTER TABLE incidents ADD COLUMN pager_url TEXT;

-- One row per thing that happened to an incident: created, update, commander, notified, resolved,
-- postmortem. `text` is what the member typed (or the sentence the bot posted), stored raw; it is
-- escaped wherever it is shown.
CREATE TABLE incident_events (
    id           INTEGER PRIMARY KEY,
    incident_id  TEXT NOT NULL REFERENCES incidents (id),
    at           TEXT NOT NULL,
    kind         TEXT NOT NULL,
    actor_id     TEXT,
    actor_name   TEXT,
    status       TEXT,
    text         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_events_of ON incident_events (incident_id, id);

-- The deploys around an incident (its timeline) are found by when they started.
CREATE INDEX deploys_started ON deploys (started_at);
