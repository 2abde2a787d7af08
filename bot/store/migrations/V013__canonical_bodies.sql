-- Each row from now on is stored as the canonical bytes its hash covers (`body`, see
-- bot/store/chain.py), so the verifier hashes what is stored and a reader parses exactly that; the
-- filter columns stay beside it as an index the verifier checks against it. With a keyed chain
-- each row also carries `mac`, an HMAC of its hash with a key that is never in the database.
-- Existing rows keep their columns and their hashes (no body, no MAC): nothing is re-hashed.
ALTER TABLE audit_log ADD COLUMN body BLOB;
ALTER TABLE audit_log ADD COLUMN mac TEXT;

-- Once rows have bodies, every later row has one.
CREATE TRIGGER audit_log_canonical BEFORE INSERT ON audit_log
WHEN NEW.body IS NULL AND (SELECT body IS NOT NULL FROM audit_log ORDER BY id DESC LIMIT 1)
BEGIN
    SELECT RAISE(ABORT, 'audit_log rows after a canonical row must be canonical');
END;

-- The chain trigger again, created after that one so that SQLite (which runs the newest trigger
-- first) still names a row that does not extend the chain as such.
DROP TRIGGER audit_log_chain;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
WHEN NEW.id IS NOT (SELECT COALESCE(MAX(id), 0) + 1 FROM audit_log)
  OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1),
                                   '0000000000000000000000000000000000000000000000000000000000000000')
BEGIN
    SELECT RAISE(ABORT, 'audit_log insert does not extend the hash chain');
END;
