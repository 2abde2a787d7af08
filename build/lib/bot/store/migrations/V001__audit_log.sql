-- The append-only, hash-chained audit log.
CREATE TABLE audit_log (
    id               INTEGER PRIMARY KEY,
    timestamp        TEXT    NOT NULL,
    user             TEXT    NOT NULL,
    command          TEXT    NOT NULL,
    approved_by      TEXT,
    result           TEXT    NOT NULL,
    duration_seconds REAL,
    channel          TEXT,
    extra            TEXT    NOT NULL DEFAULT '{}',
    prev_hash        TEXT    NOT NULL,
    hash             TEXT    NOT NULL UNIQUE
);

CREATE INDEX audit_log_timestamp ON audit_log (timestamp);

-- Append-only, enforced by the database itself.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused');
END;

-- A new row must extend the chain: the next id, linked to the last row's hash.
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
WHEN NEW.id IS NOT (SELECT COALESCE(MAX(id), 0) + 1 FROM audit_log)
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN
    SELECT RAISE(ABORT, 'audit_log insert does not extend the hash chain');
END;
