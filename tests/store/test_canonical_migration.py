"""An existing database carries forward on both backends (SQLite V013, PostgreSQL V005) without a row re-hashed:
its rows keep their columns and hashes, new rows are canonical bodies, a keyed chain starts at the next row —
and the duplicate-key trick on an old row (a second `service` hiding it from `/audit recent service:…`) is caught."""

from __future__ import annotations

import json
import sqlite3

import asyncpg
import pytest

from bot.store import AuditEntry, AuditRow, PostgresStore, SQLiteStore, Store
from bot.store.chain import GENESIS_HASH, ChainKey, canonical, index_values, row_hash
from bot.store.postgres.connection import bundled_migrations as pg_migrations
from bot.store.records import INDEXED_KEYS
from bot.store.sqlite.connection import bundled_migrations as sqlite_migrations
from tests.audit_tamper import KEY, RawLog

OLD_ROWS = 4
_INSERT = ('INSERT INTO audit_log (id, timestamp, "user", command, approved_by, result, duration_seconds, channel, '
           f"extra, prev_hash, hash, {', '.join(INDEXED_KEYS)}) VALUES ({', '.join('?' * 17)})")


def old_rows() -> list[tuple[object, ...]]:
    """Rows as the previous release stored them: columns, hashed over `canonical(row)`."""
    prev, out = GENESIS_HASH, []
    for i in range(1, OLD_ROWS + 1):
        extra = {"service": "order-service", "user_id": str(100 + i), "request_id": f"op-{i:010x}"}
        row = AuditRow(i, "2026-03-04T15:23:47Z", f"@u{i}", f"/deploy order-service v1.0.{i} staging", None,
                       "success", 1.5, "#deployments", extra, prev, "")
        digest = row_hash(canonical(row))
        out.append((i, row.timestamp, row.user, row.command, None, "success", 1.5, "#deployments",
                    json.dumps(extra, sort_keys=True, separators=(",", ":")), prev, digest, *index_values(extra)))
        prev = digest
    return out


async def _old_database(backend: str | None, tmp_path) -> Store:
    """The schema before canonical bodies, with old rows in it; then opened by this Opscord (migrated)."""
    path = tmp_path / "old.db"
    if backend is None:
        await (await SQLiteStore.open(path, [m for m in sqlite_migrations() if m.version < 13])).close()
        conn = sqlite3.connect(path)
        conn.executemany(_INSERT, old_rows())
        conn.commit()
        conn.close()
        return await SQLiteStore.open(path, chain_key=ChainKey(KEY.encode()))
    await (await PostgresStore.open(backend, [m for m in pg_migrations() if m.version < 5])).close()
    conn = await asyncpg.connect(backend)
    parts = _INSERT.split("?")
    await conn.executemany("".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, 1)),
                           old_rows())
    await conn.close()
    return await PostgresStore.open(backend, chain_key=ChainKey(KEY.encode()))


async def test_old_rows_keep_their_hashes_and_new_ones_are_canonical_and_keyed(backend, tmp_path):
    store = await _old_database(backend, tmp_path)
    try:
        before = await store.audit_hashes(range(1, OLD_ROWS + 1))
        assert [before[i] for i in range(1, OLD_ROWS + 1)] == [r[10] for r in old_rows()]  # not re-hashed
        new = await store.append(AuditEntry(user="@new", command="/status order-service", result="success",
                                            extra={"service": "order-service", "user_id": "999"}))
        assert new.id == OLD_ROWS + 1 and new.prev_hash == before[OLD_ROWS] and new.mac is not None
        result = await store.verify(key=ChainKey(KEY.encode()))
        assert result.ok and result.rows == OLD_ROWS + 1 and result.keyed_from == OLD_ROWS + 1 and result.macs_checked
        assert await store.audit_hashes(range(1, OLD_ROWS + 1)) == before
        mine = await store.audit_recent(10, service="order-service")
        assert [r.id for r in mine] == [5, 4, 3, 2, 1] and mine[0].extra == {"service": "order-service",
                                                                               "user_id": "999"}
        assert mine[1].extra["request_id"] == "op-0000000004"  # an old row reads as it did
    finally:
        await store.close()


async def test_an_old_row_after_a_canonical_one_is_refused_then_named(backend, tmp_path):
    store = await _old_database(backend, tmp_path)
    await store.append(AuditEntry(user="@new", command="/x", result="success"))
    head = await store.audit_head()
    await store.close()
    legacy = AuditRow(head[0] + 1, "2026-03-05T00:00:00Z", "@mallory", "/x", None, "success", None, None, {},
                      head[1], "")
    values = (legacy.id, legacy.timestamp, legacy.user, legacy.command, None, "success", None, None, "{}",
              legacy.prev_hash, row_hash(canonical(legacy)), *index_values({}))
    path = tmp_path / "old.db"
    if backend is None:
        conn = sqlite3.connect(path)
        with pytest.raises(sqlite3.IntegrityError, match="must be canonical"):
            conn.execute(_INSERT, values)
        conn.close()
    else:
        conn = await asyncpg.connect(backend)
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="must be canonical"):
            parts = _INSERT.split("?")
            await conn.execute("".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, 1)),
                               *values)
        await conn.close()
    async with RawLog(path, backend) as raw:  # past the guards, it is found all the same
        await raw.execute(_INSERT, *values)
    store = await (SQLiteStore.open(path) if backend is None else PostgresStore.open(backend))
    result = await store.verify()
    await store.close()
    assert not result.ok and result.bad_row == legacy.id and "stored without its canonical bytes" in result.reason


async def test_a_duplicate_key_in_an_old_row_is_caught(backend, tmp_path):
    """The issue's trick: `extra` gets a second "service" and the column follows the first; the old verify
    re-encoded the parse (the last one wins), so the hash still matched and the row hid from the filter."""
    store = await _old_database(backend, tmp_path)
    await store.close()
    async with RawLog(tmp_path / "old.db", backend) as raw:
        await raw.execute("UPDATE audit_log SET extra = ?, service = 'hidden' WHERE id = 2",
                          '{"request_id":"op-0000000002","service":"hidden","service":"order-service",'
                          '"user_id":"102"}')
    store = await (SQLiteStore.open(tmp_path / "old.db") if backend is None else PostgresStore.open(backend))
    try:
        result = await store.verify()
        assert not result.ok and result.bad_row == 2 and "duplicate key 'service'" in result.reason
        with pytest.raises(ValueError, match="duplicate key"):
            await store.audit_recent(10)
    finally:
        await store.close()
