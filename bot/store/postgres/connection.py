"""PostgreSQL connections and the numbered migrations (bot/store/postgres/migrations, forward only).

The migrations have SQLite's semantics: numbered `V{n}__name.sql`, every pending one applied in one
transaction, a database newer than the code refused. Two replicas starting at once take turns on a
transaction-level advisory lock, so the schema is migrated exactly once.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bot.store.migration_files import Migration, bundled

MIGRATION_LOCK = 7273410
WRITER_SETTINGS = {"idle_in_transaction_session_timeout": "2000"}
"""A writer stopped (SIGSTOP) inside a transaction loses it after 2 s, so its share lock on the lease
row cannot hold a takeover up; a healthy writer never idles in a transaction for more than a moment."""
SESSION_SETTINGS = {"application_name": "opscord", "tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2",
                    "tcp_keepalives_count": "3"}
"""Every connection: named in pg_stat_activity, and TCP keepalives that notice a dead host in seconds."""


def bundled_migrations() -> list[Migration]:
    """The PostgreSQL migrations shipped with Opscord, in version order."""
    return bundled("bot.store.postgres")


async def connect(dsn: str, **settings: str) -> asyncpg.Connection[Any]:
    """One connection with Opscord's session settings (plus `settings`)."""
    conn: asyncpg.Connection[Any] = await asyncpg.connect(dsn, server_settings={**SESSION_SETTINGS, **settings})
    return conn


async def migrate(conn: asyncpg.Connection[Any], migrations: list[Migration]) -> list[int]:
    """Apply every migration newer than the database, all in one transaction (forward only)."""
    applied: list[int] = []
    newest = max((m.version for m in migrations), default=0)
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL") and \
            int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")) == newest:
        return applied  # up to date: the bot's own role (no CREATE on the schema) opens it like this
    async with conn.transaction():
        await conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                           "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        current = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
        if current > newest:
            raise RuntimeError(f"the database is at schema version {current}, newer than this Opscord "
                               f"({newest}); upgrade Opscord instead")
        for migration in migrations:
            if migration.version <= current:
                continue
            await conn.execute(migration.sql)  # no parameters: the simple protocol runs the whole script
            await conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES "
                               "($1, $2, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
                               migration.version, migration.name)
            applied.append(migration.version)
    return applied
