-- Which process (host:pid) approved or runs an operation, so a restart only reports as interrupted
-- the operations no live process is still running (e.g. the CLI fallback's).
ALTER TABLE operations ADD COLUMN runner TEXT;
