-- As SQLite's V012. Break-glass: the reason on the operation, the review it opens and its acknowledgements. Health
-- gates: what a deploy's watch is doing, and the rollback it started. Lead time: the commit time a
-- provider reported for a deploy.
ALTER TABLE operations ADD COLUMN break_glass TEXT;
ALTER TABLE operations ADD COLUMN caused_by TEXT;
ALTER TABLE deploys ADD COLUMN committed_at TEXT;

CREATE TABLE break_glass_reviews (
    op_id              TEXT PRIMARY KEY REFERENCES operations (id),
    incident_id        TEXT NOT NULL,
    service            TEXT NOT NULL,
    environment        TEXT NOT NULL,
    subject            TEXT NOT NULL,
    reason             TEXT NOT NULL,
    actor_id           TEXT NOT NULL,
    actor_name         TEXT NOT NULL,
    reviewer_roles     TEXT NOT NULL,
    required           INTEGER NOT NULL,
    opened_at          TEXT NOT NULL,
    due_at             TEXT NOT NULL,
    closed_at          TEXT,
    reminded_at        TEXT,
    message_channel_id TEXT,
    message_id         TEXT,
    reminder_id        TEXT,
    revision           INTEGER NOT NULL DEFAULT 1,
    shown_revision     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX break_glass_reviews_open ON break_glass_reviews (closed_at, service);

CREATE TABLE break_glass_acks (
    op_id         TEXT NOT NULL REFERENCES break_glass_reviews (op_id),
    reviewer_id   TEXT NOT NULL,
    reviewer_name TEXT NOT NULL,
    acked_at      TEXT NOT NULL,
    PRIMARY KEY (op_id, reviewer_id)
);

CREATE TABLE health_watches (
    op_id          TEXT PRIMARY KEY REFERENCES operations (id),
    service        TEXT NOT NULL,
    environment    TEXT NOT NULL,
    on_unhealthy   TEXT NOT NULL,
    started_at     TEXT NOT NULL,
    until          TEXT NOT NULL,
    status         TEXT NOT NULL,
    holder         TEXT,
    finished_at    TEXT,
    outcome        TEXT,
    rollback_op_id TEXT
);
CREATE INDEX health_watches_status ON health_watches (status);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'opscord_writer') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON break_glass_reviews, break_glass_acks, health_watches
            TO opscord_writer;
    END IF;
END
$$;
