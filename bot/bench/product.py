"""The bench's only window into Opscord's internals: the audit store and the command provider.

Everything else in :mod:`bot.bench` treats Opscord as a black box (a process on the emulator).
When the store is rewritten, re-point these, and nothing else:

- :class:`ProductAudit` — ``open(path)``, ``append(row)`` (returns once the row is durable),
  ``verify()`` (walks the hash chain, returns the row count), ``recent(user=, service=, limit=)``
  (the query behind ``/audit recent``) and ``close()``: ``bot.store.SQLiteStore``.
- :func:`bulk_load` — builds a large audit database quickly: the product's schema (its
  migrations), rows sealed by the product's own writer functions (``bot.store.chain.seal``: canonical
  bodies and their indexed columns), inserted in one transaction with plain sqlite3.
- :func:`stored_rows` — the same rows, hashed by the product, as plain tuples for the raw-sqlite3
  baseline (:data:`RAW_SCHEMA`, :data:`RAW_INSERT`), and :func:`scan_floor` — the least any chain
  check costs: read every row of the product's table and SHA-256 it.
- :meth:`ProductAudit.open_postgres` and :func:`copy_to_postgres` — the same audit log on PostgreSQL
  (``bot.store.postgres.PostgresStore``), and a database copied there with ``store migrate``'s copy.
- :func:`provider_deploy` — one deploy through ``integrations.command.CommandProvider``.
- :func:`import_runtime` — import what a running Opscord process has imported (for the spawn probe).
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.store import AuditEntry, PostgresStore, SQLiteStore, Store
from bot.store.chain import GENESIS_HASH, seal
from bot.store.copy import copy_sqlite_to_postgres
from bot.store.records import INDEXED_KEYS
from bot.store.sqlite.writes import sealed_params
from integrations.base import OperationRequest
from integrations.command import CommandProvider

COLUMNS = ("id", "timestamp", "user", "command", "approved_by", "result", "duration_seconds", "channel", "extra",
           "prev_hash", "hash", *INDEXED_KEYS, "body", "mac")
RAW_SCHEMA = ("CREATE TABLE audit_log (id INTEGER PRIMARY KEY, timestamp TEXT NOT NULL, user TEXT NOT NULL, "
              "command TEXT NOT NULL, approved_by TEXT, result TEXT NOT NULL, duration_seconds REAL, channel TEXT, "
              "extra TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, "
              + ", ".join(f"{key} TEXT" for key in INDEXED_KEYS) + ", body BLOB, mac TEXT)")
"""The baseline's table: the same columns as Opscord's, without its triggers and indexes."""
RAW_INSERT = f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"  # noqa: S608


@dataclass(frozen=True)
class Row:
    """An audit row as the bench generates it (the fields Opscord records for a command)."""

    timestamp: str
    user: str
    command: str
    result: str
    approved_by: str | None = None
    duration_seconds: float | None = None
    channel: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ProductAudit:
    """Opscord's audit log on a database file: durable appends, chain verification, recent rows."""

    def __init__(self, store: Store) -> None:
        """Use :meth:`open`."""
        self._store = store

    @classmethod
    async def open(cls, path: Path) -> ProductAudit:
        """Open (creating and migrating) the store; its writer group-commits."""
        return cls(await SQLiteStore.open(path))

    @classmethod
    async def open_postgres(cls, url: str) -> ProductAudit:
        """The same on PostgreSQL (the store for replicas), migrating the database first."""
        return cls(await PostgresStore.open(url))

    async def append(self, row: Row) -> None:
        """Append one row; returns once it is committed."""
        await self._store.append(AuditEntry(user=row.user, command=row.command, result=row.result,
                                            approved_by=row.approved_by, duration_seconds=row.duration_seconds,
                                            channel=row.channel, timestamp=row.timestamp, extra=row.extra))

    async def verify(self) -> int:
        """Walk the whole chain; the number of rows, or RuntimeError naming the first bad one."""
        result = await self._store.verify()
        if not result.ok:
            raise RuntimeError(str(result))
        return result.rows

    async def recent(self, *, user: str | None = None, service: str | None = None, limit: int = 10) -> int:
        """The rows ``/audit recent`` shows (newest first, filtered); returns how many matched."""
        return len(await self._store.audit_recent(limit, user=user, service=service))

    async def close(self) -> None:
        """Commit what is queued and close."""
        await self._store.close()


def stored_rows(rows: Iterable[Row], first_id: int = 1, prev_hash: str = GENESIS_HASH) -> Iterator[tuple[Any, ...]]:
    """Rows as Opscord stores them (``COLUMNS``), sealed by Opscord's own writer functions (canonical bodies)."""
    row_id, prev = first_id, prev_hash
    for row in rows:
        sealed = seal(AuditEntry(user=row.user, command=row.command, result=row.result, approved_by=row.approved_by,
                                 duration_seconds=row.duration_seconds, channel=row.channel, timestamp=row.timestamp,
                                 extra=row.extra), row_id, prev)
        yield sealed_params(sealed)
        row_id, prev = row_id + 1, sealed.row.hash


async def bulk_load(path: Path, rows: Iterable[Row], chunk: int = 50_000) -> None:
    """Create Opscord's schema at ``path`` and insert ``rows`` (hashed by Opscord) in one transaction."""
    store = await SQLiteStore.open(path)
    await store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN")
        batch: list[tuple[Any, ...]] = []
        for record in stored_rows(rows):
            batch.append(record)
            if len(batch) >= chunk:
                conn.executemany(RAW_INSERT, batch)
                batch.clear()
        conn.executemany(RAW_INSERT, batch)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


async def copy_to_postgres(path: Path, url: str) -> None:
    """Copy the SQLite database at ``path`` into the empty PostgreSQL database at ``url`` (chain verified)."""
    report = await copy_sqlite_to_postgres(path, url)
    if report.verify is None or not report.verify.ok:
        raise RuntimeError(f"the copy to PostgreSQL did not verify: {report.verify}")


def scan_floor(path: Path) -> int:
    """Read every row of Opscord's audit table with plain sqlite3 and SHA-256 its fields; the row count."""
    conn = sqlite3.connect(path)
    count = 0
    try:
        for record in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit_log ORDER BY id"):  # noqa: S608
            hashlib.sha256("\x1f".join(map(str, record)).encode()).hexdigest()
            count += 1
    finally:
        conn.close()
    return count


def provider_deploy(argv: list[str]) -> Callable[[int], Awaitable[None]]:
    """A function that runs deploy number ``n`` through Opscord's command provider running ``argv``."""
    provider = CommandProvider({"deploy": argv}, timeout=30)

    async def deploy(n: int) -> None:
        request = OperationRequest(request_id=f"op-bench{n:06d}", action="deploy", service="svc-0001",
                                   environment="staging", version=f"v1.0.{n}", replicas=None,
                                   previous_version=None, requester="@bench")
        result = await provider.deploy(request)
        if not result.ok:
            raise RuntimeError(result.summary)

    return deploy


def import_runtime() -> None:
    """Import the modules a running Opscord has loaded: the composition root, the client and every cog."""
    importlib.import_module("bot.app")
    importlib.import_module("bot.client")
    cogs = importlib.import_module("cogs")
    for module in pkgutil.iter_modules(cogs.__path__):
        importlib.import_module(f"cogs.{module.name}")
