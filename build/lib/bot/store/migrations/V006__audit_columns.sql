-- The columns /audit recent and /status filter on become real, indexed columns. Their values come
-- from each row's `extra` (which the hash covers), so no row is re-hashed: the verifier checks
-- that the columns still agree with `extra`.
ALTER TABLE audit_log ADD COLUMN user_id TEXT;
ALTER TABLE audit_log ADD COLUMN service TEXT;
ALTER TABLE audit_log ADD COLUMN environment TEXT;
ALTER TABLE audit_log ADD COLUMN action TEXT;
ALTER TABLE audit_log ADD COLUMN request_id TEXT;
ALTER TABLE audit_log ADD COLUMN interaction_id TEXT;

-- Backfill: the append-only trigger is lifted for this one transaction and put back at once.
DROP TRIGGER audit_log_no_update;
UPDATE audit_log SET
    user_id        = json_extract(extra, '$.user_id'),
    service        = json_extract(extra, '$.service'),
    environment    = json_extract(extra, '$.environment'),
    action         = json_extract(extra, '$.action'),
    request_id     = json_extract(extra, '$.request_id'),
    interaction_id = json_extract(extra, '$.interaction_id');
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused');
END;

CREATE INDEX audit_log_user ON audit_log (user, id);
CREATE INDEX audit_log_user_id ON audit_log (user_id, id);
CREATE INDEX audit_log_service ON audit_log (service, id);
CREATE INDEX audit_log_environment ON audit_log (environment, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_result ON audit_log (result, id);
CREATE INDEX audit_log_request ON audit_log (request_id);
CREATE INDEX audit_log_interaction ON audit_log (interaction_id);
