-- A queued post may ping one member (the requester told what became of their request) and reply
-- to a message (the request's own); reactions on a request's message find it by message id.
ALTER TABLE announcements ADD COLUMN ping_user TEXT;
ALTER TABLE announcements ADD COLUMN reply_to TEXT;
CREATE INDEX operations_message ON operations (message_id) WHERE message_id IS NOT NULL;
