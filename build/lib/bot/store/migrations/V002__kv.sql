-- Small key/value facts the bot keeps between starts (e.g. the digest of the last command sync).
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
