-- Incidents: one row each; the thread holds the conversation, the audit log holds who did what.
CREATE TABLE incidents (
    id                 TEXT PRIMARY KEY,         -- inc-YYYYMMDD-slug, also the thread's name
    title              TEXT NOT NULL,
    severity           TEXT NOT NULL,            -- sev1, sev2, sev3
    service            TEXT,
    status             TEXT NOT NULL,            -- investigating, identified, monitoring, resolved
    commander_id       TEXT NOT NULL,
    commander_name     TEXT NOT NULL,
    thread_id          TEXT,
    pager_key          TEXT,
    statuspage_id      TEXT,
    created_at         TEXT NOT NULL,
    resolved_at        TEXT,
    postmortem_event   TEXT
);
CREATE INDEX incidents_open ON incidents (status);
