"""The store: the only place that speaks SQL. `Store` is the interface; `open_store` picks the backend."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import asyncpg

from bot.store.changes import Applied, Change, Conflict
from bot.store.interface import Store
from bot.store.postgres import PostgresStore, is_postgres_url
from bot.store.records import (
    AuditEntry,
    AuditRow,
    Decision,
    DeployRecord,
    Incident,
    IncidentEvent,
    Lock,
    Operation,
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
    "Incident",
    "IncidentEvent",
    "Lock",
    "Operation",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "TargetFacts",
    "VerifyResult",
    "is_postgres_url",
    "open_store",
]


OPEN_ERRORS: tuple[type[Exception], ...] = (OSError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError)
"""What opening a store can raise: no database in the file, unreadable, refused, unknown host, bad password."""


async def open_store(sqlite_path: Path, database_url: str | None = None) -> Store:
    """PostgreSQL at `database_url` when it is a postgresql:// URL (replicas), else the embedded SQLite store."""
    if database_url and is_postgres_url(database_url):
        return await PostgresStore.open(database_url)
    return await SQLiteStore.open(sqlite_path)
