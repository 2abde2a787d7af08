"""The store: the only place that speaks SQL. `Store` is the interface; `open_store` picks the backend."""

from __future__ import annotations

from pathlib import Path

from bot.store.changes import Applied, Change, Conflict
from bot.store.interface import Store
from bot.store.records import (
    AuditEntry,
    AuditRow,
    Decision,
    DeployRecord,
    Incident,
    Lock,
    Operation,
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
    "Incident",
    "Lock",
    "Operation",
    "SQLiteStore",
    "Store",
    "TargetFacts",
    "VerifyResult",
    "open_store",
]


async def open_store(sqlite_path: Path) -> Store:
    """The embedded SQLite store at `sqlite_path` (PostgreSQL joins here for replicas)."""
    return await SQLiteStore.open(sqlite_path)
