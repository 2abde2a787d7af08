-- Replicas: the leader lease, fencing by epoch, exactly-once keys, and the bot's role.

-- One row: who holds the Discord gateway, under which epoch, until when (the database's clock).
-- `backend_pid`/`backend_start` name the leader's lease session, so a standby takes over at once
-- when that session is gone (the leader was killed) instead of waiting for the expiry.
CREATE TABLE leader_lease (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    epoch         BIGINT      NOT NULL,
    holder        TEXT,
    acquired_at   TIMESTAMPTZ,
    renewed_at    TIMESTAMPTZ,
    expires_at    TIMESTAMPTZ NOT NULL,
    backend_pid   INTEGER,
    backend_start TIMESTAMPTZ
);
INSERT INTO leader_lease (id, epoch, expires_at) VALUES (1, 0, '-infinity');

-- Every write transaction of the store begins here: the chain's appends are serialised across
-- processes (a transaction-level advisory lock), and a writer that names an epoch other than the
-- current one is refused (SQLSTATE OF001). The lease row stays share-locked until the writer's
-- commit, so a takeover (an UPDATE of that row) waits for a write in flight, and no write of the
-- old epoch can commit after it. A NULL epoch is an unfenced writer (the CLI fallback, a copy).
CREATE FUNCTION opscord_begin_write(writer_epoch BIGINT, OUT head_id BIGINT, OUT head_hash TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    current_epoch BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(7273411);
    SELECT epoch INTO current_epoch FROM leader_lease WHERE id = 1 FOR SHARE;
    IF writer_epoch IS NOT NULL AND writer_epoch IS DISTINCT FROM current_epoch THEN
        RAISE EXCEPTION 'fenced: epoch % is not the current leader epoch %', writer_epoch, current_epoch
            USING ERRCODE = 'OF001';
    END IF;
    SELECT id, hash INTO head_id, head_hash FROM audit_log ORDER BY id DESC LIMIT 1;
    head_id := COALESCE(head_id, 0);
    head_hash := COALESCE(head_hash, repeat('0', 64));
END $$;

-- Exactly once (the same tables as SQLite's V009), with the epoch that wrote each key.
CREATE TABLE interactions (
    interaction_id TEXT PRIMARY KEY,
    operation_id   TEXT,
    epoch          BIGINT,
    claimed_at     TEXT NOT NULL
);

CREATE TABLE executions (
    operation_id TEXT    NOT NULL,
    attempt      INTEGER NOT NULL,
    holder       TEXT    NOT NULL,
    epoch        BIGINT,
    started_at   TEXT    NOT NULL,
    PRIMARY KEY (operation_id, attempt)
);

-- The bot's role: everything it needs, but no UPDATE, DELETE or TRUNCATE on the audit log. Created
-- when the migrating role may create roles (else a DBA creates it: see the README); the bot's
-- login role is made a member of it.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'opscord_writer') THEN
        BEGIN
            CREATE ROLE opscord_writer NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'cannot create role opscord_writer here; ask a DBA to create it, then migrate again';
        END;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'opscord_writer') THEN
        GRANT SELECT, INSERT ON audit_log TO opscord_writer;
        GRANT SELECT, INSERT, UPDATE, DELETE ON kv, operations, approvals, locks, deploys, incidents, announcements,
            interactions, executions TO opscord_writer;
        GRANT SELECT, UPDATE ON leader_lease TO opscord_writer;
        GRANT SELECT ON schema_migrations TO opscord_writer;
        EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO opscord_writer', current_schema());
        REVOKE ALL ON audit_log FROM PUBLIC;
        REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM opscord_writer;
    END IF;
END $$;
