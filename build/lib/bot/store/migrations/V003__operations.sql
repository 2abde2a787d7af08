-- Operation requests (immutable fields + a status that only moves forward), their approvals,
-- the per-(service, environment) locks and the deploy history.
CREATE TABLE operations (
    id                 TEXT PRIMARY KEY,
    action             TEXT NOT NULL,            -- deploy, rollback, scale, migrate
    policy_action      TEXT NOT NULL,            -- deploy, rollback, scale_up, scale_down, migrate
    service            TEXT NOT NULL,
    environment        TEXT NOT NULL,
    version            TEXT,
    previous_version   TEXT,
    replicas           INTEGER,
    current_replicas   INTEGER,
    command            TEXT NOT NULL,
    requester_id       TEXT NOT NULL,
    requester_name     TEXT NOT NULL,
    guild_id           TEXT,
    channel_id         TEXT,
    channel_name       TEXT,
    approvals_required INTEGER NOT NULL DEFAULT 0,
    approver_roles     TEXT NOT NULL DEFAULT '[]',
    confirm            INTEGER NOT NULL DEFAULT 0,
    status             TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    expires_at         TEXT,
    started_at         TEXT,
    finished_at        TEXT,
    message_channel_id TEXT,
    message_id         TEXT,
    outcome            TEXT
);
CREATE INDEX operations_status ON operations (status);
CREATE INDEX operations_target ON operations (service, environment, created_at);

-- A request is immutable: only status, timestamps, message and outcome may change.
CREATE TRIGGER operations_immutable BEFORE UPDATE ON operations
WHEN NEW.action IS NOT OLD.action OR NEW.service IS NOT OLD.service OR NEW.environment IS NOT OLD.environment
  OR NEW.version IS NOT OLD.version OR NEW.replicas IS NOT OLD.replicas OR NEW.requester_id IS NOT OLD.requester_id
  OR NEW.approvals_required IS NOT OLD.approvals_required OR NEW.previous_version IS NOT OLD.previous_version
BEGIN
    SELECT RAISE(ABORT, 'operation requests are immutable: make a new request');
END;

CREATE TABLE approvals (
    operation_id  TEXT NOT NULL REFERENCES operations (id),
    approver_id   TEXT NOT NULL,
    approver_name TEXT NOT NULL,
    decision      TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    decided_at    TEXT NOT NULL,
    PRIMARY KEY (operation_id, approver_id)
);

CREATE TABLE locks (
    service      TEXT NOT NULL,
    environment  TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    holder_name  TEXT NOT NULL,
    since        TEXT NOT NULL,
    PRIMARY KEY (service, environment)
);

CREATE TABLE deploys (
    id               INTEGER PRIMARY KEY,
    operation_id     TEXT NOT NULL,
    kind             TEXT NOT NULL,              -- deploy or rollback
    service          TEXT NOT NULL,
    environment      TEXT NOT NULL,
    version          TEXT NOT NULL,
    previous_version TEXT,
    status           TEXT NOT NULL,              -- running, succeeded, failed, interrupted
    requester        TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    finished_at      TEXT
);
CREATE INDEX deploys_target ON deploys (service, environment, id);
