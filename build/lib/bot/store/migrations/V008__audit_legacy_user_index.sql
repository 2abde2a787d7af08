-- Rows written before member ids were recorded are found by their `@name` label; this index holds
-- only those, so a filter by member walks an index that has exactly the rows it can match.
CREATE INDEX audit_log_user_legacy ON audit_log (user, id) WHERE user_id IS NULL;
