"""The store: the only place that speaks SQL. `Store` is the interface; `open_store` picks the backend."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

from bot.store.chain import ChainKey
from bot.store.changes import Applied, Change, Conflict
from bot.store.interface import Store
from bot.store.postgres import PostgresStore, is_postgres_url
from bot.store.records import (
    AuditEntry,
    AuditRow,
    Decision,
    DeployRecord,
    HealthWatch,
    Incident,
    IncidentEvent,
    Lock,
    Operation,
    Review,
    TargetFacts,
    VerifyResult,
)
from bot.store.sqlite import SQLiteStore

__all__ = [
    "OPEN_ERRORS",
    "Applied",
    "AuditEntry",
    "AuditRow",
    "Change",
    "Conflict",
    "Decision",
    "DeployRecord",
    "HealthWatch",
    "Incident",
    "IncidentEvent",
    "Lock",
    "Operation",
    "PostgresStore",
    "Review",
    "SQLiteStore",
    "Store",
    "StoreUnavailable",
    "TargetFacts",
    "VerifyResult",
    "is_postgres_url",
    "open_store",
]


class StoreUnavailable(RuntimeError):
    """The database is there but refuses to be opened (e.g. PostgreSQL refuses the connection)."""


OPEN_ERRORS: tuple[type[Exception], ...] = (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError,
                                            StoreUnavailable)
"""What opening a store can raise: no database in the file, unreadable, refused, unknown host, bad password."""


async def open_store(sqlite_path: Path, database_url: str | None = None, *,
                     chain_key: ChainKey | None = None) -> Store:
    """PostgreSQL at `database_url` when it is a postgresql:// URL (replicas), else the embedded SQLite store.

    With `chain_key`, every row appended carries its MAC (a keyed chain).
    """
    if database_url and is_postgres_url(database_url):
        try:
            return await PostgresStore.open(database_url, chain_key=chain_key)
        except asyncpg.PostgresError as exc:
            raise StoreUnavailable(f"PostgreSQL refused: {exc}") from exc
    return await SQLiteStore.open(sqlite_path, chain_key=chain_key)
