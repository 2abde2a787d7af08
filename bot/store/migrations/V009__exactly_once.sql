-- Exactly once: each Discord interaction is handled by one change, and each operation's provider is
-- called once per attempt. A second delivery of the same click or command (two replicas during a
-- takeover, a replay) finds its key taken and changes nothing. `epoch` is the leader epoch that
-- wrote the row (PostgreSQL replicas; NULL on SQLite, which has one process).
CREATE TABLE interactions (
    interaction_id TEXT PRIMARY KEY,
    operation_id   TEXT,
    epoch          INTEGER,
    claimed_at     TEXT NOT NULL
);

CREATE TABLE executions (
    operation_id TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    holder       TEXT    NOT NULL,
    epoch        INTEGER,
    started_at   TEXT    NOT NULL,
    PRIMARY KEY (operation_id, attempt)
);
