-- SQLite's V012: each row from now on is stored as the canonical bytes its hash covers (`body`), so
-- the verifier hashes what is stored and a reader parses exactly that; with a keyed chain each row
-- also carries `mac`, an HMAC of its hash with a key that is never in the database. Existing rows
-- keep their columns and their hashes (no body, no MAC): nothing is re-hashed.
ALTER TABLE audit_log ADD COLUMN body BYTEA;
ALTER TABLE audit_log ADD COLUMN mac TEXT;

-- A new row must extend the chain (the next id, linked to the last row's hash) and, once rows have
-- bodies, have one too.
CREATE OR REPLACE FUNCTION audit_log_extends_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_id   BIGINT;
    last_hash TEXT;
    last_body BOOLEAN;
BEGIN
    SELECT id, hash, body IS NOT NULL INTO last_id, last_hash, last_body FROM audit_log ORDER BY id DESC LIMIT 1;
    IF NEW.id IS DISTINCT FROM COALESCE(last_id, 0) + 1
       OR NEW.prev_hash IS DISTINCT FROM COALESCE(last_hash, repeat('0', 64)) THEN
        RAISE EXCEPTION 'audit_log insert does not extend the hash chain' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.body IS NULL AND last_body THEN
        RAISE EXCEPTION 'audit_log rows after a canonical row must be canonical'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
