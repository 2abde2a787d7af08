"""Numbered migrations: applied once, in one transaction, forward only; an existing database carries forward."""

import json
import sqlite3

import pytest

from bot.store import AuditEntry, SQLiteStore
from bot.store.chain import GENESIS_HASH, canonical, row_hash
from bot.store.migration_files import Migration
from bot.store.records import AuditRow
from bot.store.sqlite.connection import bundled_migrations, split_statements

"""Numbers held for changes written elsewhere (V009); the bundled ones are 1… without other gaps."""


def test_bundled_migrations_are_numbered():
    versions = [m.version for m in bundled_migrations()]
    assert versions == sorted(set(versions)) and versions[0] == 1


async def test_a_reserved_number_that_lands_later_is_still_applied(tmp_path):
    first = [Migration(1, "one", "CREATE TABLE one (x INTEGER);"), Migration(3, "three", "CREATE TABLE three (x);")]
    store = await SQLiteStore.open(tmp_path / "gap.db", first)
    await store.close()
    store = await SQLiteStore.open(tmp_path / "gap.db", [*first[:1], Migration(2, "two", "CREATE TABLE two (x);"),
                                                         first[1]])
    await store.close()
    conn = sqlite3.connect(tmp_path / "gap.db")
    assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")] == [1, 2, 3]
    conn.close()


async def test_migrations_apply_once_and_the_writer_is_durable(tmp_path):
    path = tmp_path / "a.db"
    store = await SQLiteStore.open(path)
    await store.close()
    store = await SQLiteStore.open(path)
    await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(bundled_migrations())
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_failed_migration_rolls_back_everything(tmp_path):
    good = Migration(1, "good", "CREATE TABLE a (x INTEGER);")
    bad = Migration(2, "bad", "CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);")
    with pytest.raises(sqlite3.OperationalError):
        await SQLiteStore.open(tmp_path / "b.db", [good, bad])
    conn = sqlite3.connect(tmp_path / "b.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "a" not in tables and "b" not in tables


async def test_a_database_newer_than_the_code_is_refused(tmp_path):
    store = await SQLiteStore.open(tmp_path / "c.db")
    await store.close()
    with pytest.raises(RuntimeError, match="newer than this Opscord"):
        await SQLiteStore.open(tmp_path / "c.db", bundled_migrations()[:3])


def test_split_keeps_trigger_bodies():
    sql = "CREATE TABLE t (x);\nCREATE TRIGGER g BEFORE DELETE ON t\nBEGIN\n  SELECT RAISE(ABORT, 'no');\nEND;\n-- end\n"
    assert len(split_statements(sql)) == 2


def _old_database(path, rows: int) -> list[str]:
    """A database as the previous release left it (schema 5), with audit rows and a running operation."""
    conn = sqlite3.connect(path, isolation_level=None)
    for migration in bundled_migrations()[:5]:
        conn.execute("BEGIN")
        for statement in split_statements(migration.sql):
            conn.execute(statement)
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                     "applied_at TEXT NOT NULL)")
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'then')", (migration.version, migration.name))
        conn.execute("COMMIT")
    prev, hashes = GENESIS_HASH, []
    for i in range(1, rows + 1):
        extra = {"service": "order-service", "user_id": str(100 + i % 3), "request_id": f"op-{i:010x}"}
        row = AuditRow(i, "2026-03-04T15:23:47Z", f"@u{i % 3}", "/deploy order-service v1.0.0 staging", None,
                       "success", 1.5, "#deployments", extra, prev, "")
        digest = row_hash(canonical(row))
        conn.execute("INSERT INTO audit_log (id, timestamp, user, command, approved_by, result, duration_seconds, "
                     "channel, extra, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                     (i, row.timestamp, row.user, row.command, None, "success", 1.5, "#deployments",
                      json.dumps(extra), prev, digest))
        prev = digest
        hashes.append(digest)
    conn.execute("INSERT INTO operations (id, action, policy_action, service, environment, command, requester_id, "
                 "requester_name, status, created_at, runner) VALUES ('op-00000000aa', 'deploy', 'deploy', "
                 "'order-service', 'staging', '/deploy', '1', 'alice', 'running', '2026-03-04T15:23:47.000Z', "
                 "'elsewhere:1')")
    conn.close()
    return hashes


async def test_an_existing_database_migrates_forward_and_still_verifies(tmp_path):
    path = tmp_path / "old.db"
    hashes = _old_database(path, 300)
    store = await SQLiteStore.open(path)
    try:
        result = await store.verify()
        assert result.ok and result.rows == 300
        assert [h for _, h in sorted((await store.audit_hashes(range(1, 301))).items())] == hashes  # not re-hashed
        mine = await store.audit_recent(5, service="order-service", user_id="101")
        assert len(mine) == 5 and all(r.extra["user_id"] == "101" for r in mine)
        op = await store.operation("op-00000000aa")
        assert op is not None and op.holder == "elsewhere:1"  # `runner` carried over as the holder
        row = await store.append(AuditEntry(user="@new", command="/x", result="success"))
        assert row.id == 301 and row.prev_hash == hashes[-1]
        assert (await store.verify()).ok
    finally:
        await store.close()
