-- Who holds an operation and its lock is a process identity that survives pid reuse
-- (host, pid, start time); the provider process an operation started is recorded so that a
-- restart can find it still running. `revision` counts an operation's changes and
-- `shown_revision` the last one its Discord message shows, so a message left behind by a crash,
-- a failed edit or the CLI fallback is brought up to date. `interaction_id` finds the reply
-- in the channel's history when the process died before it stored the message id.
ALTER TABLE operations RENAME COLUMN runner TO holder;
ALTER TABLE operations ADD COLUMN interaction_id TEXT;
ALTER TABLE operations ADD COLUMN provider_process TEXT;
ALTER TABLE operations ADD COLUMN progress TEXT;
ALTER TABLE operations ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;
ALTER TABLE operations ADD COLUMN shown_revision INTEGER NOT NULL DEFAULT 1;
CREATE INDEX operations_unshown ON operations (id) WHERE shown_revision < revision;
CREATE INDEX operations_scales ON operations (service, environment, finished_at) WHERE action = 'scale';

ALTER TABLE locks ADD COLUMN holder TEXT;
CREATE UNIQUE INDEX locks_operation ON locks (operation_id);

CREATE INDEX deploys_succeeded ON deploys (service, environment, status, id);
CREATE INDEX deploys_operation ON deploys (operation_id);

-- Posts to the deployments channel (target NULL) or to a thread wait here until they are
-- delivered, so a crash loses none.
CREATE TABLE announcements (
    id         INTEGER PRIMARY KEY,
    target     TEXT,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    posted_at  TEXT
);
CREATE INDEX announcements_unposted ON announcements (id) WHERE posted_at IS NULL;
