"""The store: the only place that speaks SQL. `Store` is the interface; `open_store` picks the backend."""

from __future__ import annotations

from pathlib import Path

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
    "TargetFacts",
    "VerifyResult",
    "is_postgres_url",
    "open_store",
]


async def open_store(sqlite_path: Path, database_url: str | None = None) -> Store:
    """PostgreSQL at `database_url` when it is a postgresql:// URL (replicas), else the embedded SQLite store."""
    if database_url and is_postgres_url(database_url):
        return await PostgresStore.open(database_url)
    return await SQLiteStore.open(sqlite_path)
