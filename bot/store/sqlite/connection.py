"""SQLite connections that run whole units of work on their own thread, and the numbered migrations.

aiosqlite gives each connection a thread of its own and runs one call at a time on it; every
`await conn.execute(...)` is a hop to that thread and back (≈0.1 ms). `Worker.run(fn)` runs a
whole function — a group commit, or a read of several statements — in a single hop, which is
what keeps a burst of commands from spending its time in thread hops.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import aiosqlite

from bot.store.migration_files import Migration, bundled

T = TypeVar("T")


class Worker(aiosqlite.Connection):
    """An aiosqlite connection that can run a function on its own thread, in one hop."""

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Call `fn(connection)` on the connection's thread and return its result."""
        connection = self._conn
        result: T = await self._execute(fn, connection)  # type: ignore[no-untyped-call]
        return result


async def open_worker(path: Path, *, writer: bool) -> Worker:
    """A connection in WAL mode; the writer commits with synchronous=FULL, readers are query-only."""
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=10000")
        if writer:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        else:
            conn.execute("PRAGMA query_only=ON")
        return conn

    worker = Worker(connect, 64)
    try:
        await worker
    except BaseException:  # aiosqlite has told its thread to stop: let it end while this loop still runs
        await asyncio.to_thread(worker._thread.join, 5)
        raise
    return worker


def bundled_migrations() -> list[Migration]:
    """The migrations shipped in `bot/store/migrations`, in version order."""
    return bundled("bot.store")


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (trigger bodies keep their inner semicolons)."""
    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(ln.strip().startswith("--") for ln in buffer.strip().splitlines()):
        raise ValueError(f"incomplete SQL statement at end of migration: {buffer.strip()[:60]!r}")
    return statements


def migrate(conn: sqlite3.Connection, migrations: list[Migration]) -> list[int]:
    """Apply every migration the database has not recorded, in version order, in one transaction (forward only).

    A number may be reserved for a change still being written elsewhere; when it lands after a
    higher one was applied, it is applied then (whatever is recorded is never applied twice).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        recorded = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
        current = max(recorded, default=0)
        newest = max((m.version for m in migrations), default=0)
        if current > newest:
            raise RuntimeError(f"the database is at schema version {current}, newer than this Opscord "
                               f"({newest}); upgrade Opscord instead")
        applied = []
        for migration in migrations:
            if migration.version in recorded:
                continue
            for statement in split_statements(migration.sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version, name, applied_at) "
                         "VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))", (migration.version, migration.name))
            applied.append(migration.version)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return applied
