import sqlite3

import pytest

from bot.db import Database, Migration, bundled_migrations, split_statements


def test_bundled_migrations_are_numbered():
    versions = [m.version for m in bundled_migrations()]
    assert versions == sorted(versions) and versions[0] == 1


async def test_migrations_apply_once(tmp_path):
    path = tmp_path / "a.db"
    db = await Database.open(path)
    async with db.conn.execute("SELECT version FROM schema_migrations ORDER BY version") as cur:
        first = [r[0] async for r in cur]
    assert await db.migrate(bundled_migrations()) == []
    await db.close()
    db = await Database.open(path)
    async with db.conn.execute("SELECT count(*) FROM schema_migrations") as cur:
        assert (await cur.fetchone())[0] == len(first)
    async with db.conn.execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone())[0] == "wal"
    async with db.conn.execute("PRAGMA synchronous") as cur:
        assert (await cur.fetchone())[0] == 2  # FULL
    await db.close()


async def test_failed_migration_rolls_back_everything(tmp_path):
    good = Migration(1, "good", "CREATE TABLE a (x INTEGER);")
    bad = Migration(2, "bad", "CREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);")
    with pytest.raises(sqlite3.OperationalError):
        await Database.open(tmp_path / "b.db", [good, bad])
    conn = sqlite3.connect(tmp_path / "b.db")
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "a" not in tables and "b" not in tables


def test_split_keeps_trigger_bodies():
    sql = "CREATE TABLE t (x);\nCREATE TRIGGER g BEFORE DELETE ON t\nBEGIN\n  SELECT RAISE(ABORT, 'no');\nEND;\n-- end\n"
    assert len(split_statements(sql)) == 2
