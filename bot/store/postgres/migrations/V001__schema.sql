-- The schema SQLite reached at its V008, in one step: the same tables, columns and indexes, so a log
-- copied between the backends is the same log (`python -m bot store migrate`). Timestamps stay text
-- in the format the hash chain covers; "user" is quoted because it is a keyword here.

CREATE TABLE audit_log (
    id               BIGINT PRIMARY KEY,
    timestamp        TEXT   NOT NULL,
    "user"           TEXT   NOT NULL,
    command          TEXT   NOT NULL,
    approved_by      TEXT,
    result           TEXT   NOT NULL,
    duration_seconds DOUBLE PRECISION,
    channel          TEXT,
    extra            TEXT   NOT NULL DEFAULT '{}',
    prev_hash        TEXT   NOT NULL,
    hash             TEXT   NOT NULL UNIQUE,
    user_id          TEXT,
    service          TEXT,
    environment      TEXT,
    action           TEXT,
    request_id       TEXT,
    interaction_id   TEXT
);
CREATE INDEX audit_log_timestamp ON audit_log (timestamp);
CREATE INDEX audit_log_user ON audit_log ("user", id);
CREATE INDEX audit_log_user_id ON audit_log (user_id, id);
CREATE INDEX audit_log_service ON audit_log (service, id);
CREATE INDEX audit_log_environment ON audit_log (environment, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_result ON audit_log (result, id);
CREATE INDEX audit_log_request ON audit_log (request_id);
CREATE INDEX audit_log_interaction ON audit_log (interaction_id);
CREATE INDEX audit_log_user_legacy ON audit_log ("user", id) WHERE user_id IS NULL;

-- Append-only, enforced by the database itself (and the bot's role has no UPDATE or DELETE: V002).
CREATE FUNCTION audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT
    EXECUTE FUNCTION audit_log_refuse();

-- A new row must extend the chain: the next id, linked to the last row's hash.
CREATE FUNCTION audit_log_extends_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_id   BIGINT;
    last_hash TEXT;
BEGIN
    SELECT id, hash INTO last_id, last_hash FROM audit_log ORDER BY id DESC LIMIT 1;
    IF NEW.id IS DISTINCT FROM COALESCE(last_id, 0) + 1
       OR NEW.prev_hash IS DISTINCT FROM COALESCE(last_hash, repeat('0', 64)) THEN
        RAISE EXCEPTION 'audit_log insert does not extend the hash chain' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_extends_chain();

CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE operations (
    id                 TEXT PRIMARY KEY,
    action             TEXT NOT NULL,
    policy_action      TEXT NOT NULL,
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
    outcome            TEXT,
    holder             TEXT,
    interaction_id     TEXT,
    provider_process   TEXT,
    progress           TEXT,
    revision           INTEGER NOT NULL DEFAULT 1,
    shown_revision     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX operations_status ON operations (status);
CREATE INDEX operations_target ON operations (service, environment, created_at);
CREATE INDEX operations_unshown ON operations (id) WHERE shown_revision < revision;
CREATE INDEX operations_scales ON operations (service, environment, finished_at) WHERE action = 'scale';

-- A request is immutable: only status, timestamps, message and outcome may change.
CREATE FUNCTION operations_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.action IS DISTINCT FROM OLD.action OR NEW.service IS DISTINCT FROM OLD.service
       OR NEW.environment IS DISTINCT FROM OLD.environment OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.replicas IS DISTINCT FROM OLD.replicas OR NEW.requester_id IS DISTINCT FROM OLD.requester_id
       OR NEW.approvals_required IS DISTINCT FROM OLD.approvals_required
       OR NEW.previous_version IS DISTINCT FROM OLD.previous_version THEN
        RAISE EXCEPTION 'operation requests are immutable: make a new request' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER operations_immutable BEFORE UPDATE ON operations FOR EACH ROW EXECUTE FUNCTION operations_refuse_change();

CREATE TABLE approvals (
    operation_id  TEXT NOT NULL REFERENCES operations (id),
    approver_id   TEXT NOT NULL,
    approver_name TEXT NOT NULL,
    decision      TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
    decided_at    TEXT NOT NULL,
    seq           BIGSERIAL,
    PRIMARY KEY (operation_id, approver_id)
);

CREATE TABLE locks (
    service      TEXT NOT NULL,
    environment  TEXT NOT NULL,
    operation_id TEXT NOT NULL,
    holder_name  TEXT NOT NULL,
    since        TEXT NOT NULL,
    holder       TEXT,
    PRIMARY KEY (service, environment)
);
CREATE UNIQUE INDEX locks_operation ON locks (operation_id);

CREATE TABLE deploys (
    id               BIGSERIAL PRIMARY KEY,
    operation_id     TEXT NOT NULL,
    kind             TEXT NOT NULL,
    service          TEXT NOT NULL,
    environment      TEXT NOT NULL,
    version          TEXT NOT NULL,
    previous_version TEXT,
    status           TEXT NOT NULL,
    requester        TEXT NOT NULL,
    started_at       TEXT NOT NULL,
    finished_at      TEXT
);
CREATE INDEX deploys_target ON deploys (service, environment, id);
CREATE INDEX deploys_succeeded ON deploys (service, environment, status, id);
CREATE INDEX deploys_operation ON deploys (operation_id);

CREATE TABLE incidents (
    id                 TEXT PRIMARY KEY,
    title              TEXT NOT NULL,
    severity           TEXT NOT NULL,
    service            TEXT,
    status             TEXT NOT NULL,
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

CREATE TABLE announcements (
    id         BIGSERIAL PRIMARY KEY,
    target     TEXT,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    posted_at  TEXT
);
CREATE INDEX announcements_unposted ON announcements (id) WHERE posted_at IS NULL;
