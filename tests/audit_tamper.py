"""What someone with write access to the database, but not the key, can do to the audit log — on either backend.

`RawLog` opens the audit table past the store and its guards (SQLite: the triggers dropped;
PostgreSQL: the owner disables them) and changes it the ways `audit verify` must catch: a column
edited, bytes of a body edited, rows deleted, inserted or cut off, and whole stretches re-hashed
so that the chain is self-consistent again (with the MACs left stale, or stripped).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg

from bot.store import AuditEntry, AuditRow
from bot.store.chain import body_of, index_values, row_of_body, seal
from bot.store.records import INDEXED_KEYS

KEY = "k3y-for-tests-0123456789abcdef0123456789"  # noqa: S105 - a test key, 40 characters


class RawLog:
    """The audit table without its guards. `async with RawLog(path, url) as raw:`."""

    def __init__(self, path: Path, url: str | None) -> None:
        self.path, self.url = path, url
        self._sqlite: sqlite3.Connection | None = None
        self._pg: asyncpg.Connection[Any] | None = None

    async def __aenter__(self) -> RawLog:
        if self.url is None:
            self._sqlite = sqlite3.connect(self.path, isolation_level=None)
            for (name,) in self._sqlite.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                                "AND tbl_name = 'audit_log'").fetchall():
                self._sqlite.execute(f"DROP TRIGGER {name}")
        else:
            self._pg = await asyncpg.connect(self.url)
            await self._pg.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._pg is not None:
            await self._pg.close()

    async def execute(self, sql: str, *params: Any) -> None:
        """One statement, written with `?` placeholders and "user" quoted (both dialects take it)."""
        if self._sqlite is not None:
            self._sqlite.execute(sql, params)
            return
        assert self._pg is not None
        parts = sql.split("?")
        await self._pg.execute("".join(p + (f"${i}" if i < len(parts) else "") for i, p in enumerate(parts, 1)),
                               *params)

    async def rows(self) -> list[dict[str, Any]]:
        """Every stored row's id, prev_hash, hash, mac and body, in order."""
        sql = "SELECT id, prev_hash, hash, mac, body FROM audit_log ORDER BY id"
        if self._sqlite is not None:
            cursor = self._sqlite.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, rec, strict=True)) for rec in cursor.fetchall()]
        assert self._pg is not None
        return [dict(rec) for rec in await self._pg.fetch(sql)]

    async def put(self, row: AuditRow, body: bytes, *, mac: str | None) -> None:
        """Overwrite the stored row `row.id` with this body (hashed as given) and matching columns."""
        columns = dict(zip(INDEXED_KEYS, index_values(row.extra), strict=True))
        sets = ", ".join(f"{name} = ?" for name in columns)
        await self.execute(f'UPDATE audit_log SET timestamp = ?, "user" = ?, result = ?, command = ?, prev_hash = ?, '
                           f"hash = ?, body = ?, mac = ?, {sets} WHERE id = ?", row.timestamp, row.user, row.result,
                           row.command, row.prev_hash, hashlib.sha256(body).hexdigest(), body, mac,
                           *columns.values(), row.id)

    async def rewrite(self, first: int, change: Callable[[AuditRow], AuditRow] = lambda r: r, *,
                      strip_macs: bool = False) -> None:
        """Change row `first` and re-hash it and every row after it: a self-consistent chain again.

        Without the key the MACs cannot be made: they stay as they were (now wrong), or are stripped.
        """
        stored = await self.rows()
        prev = next((r["hash"] for r in stored if r["id"] == first - 1), "0" * 64)
        for rec in (r for r in stored if r["id"] >= first):
            row = row_of_body(rec["id"], rec["body"], rec["hash"], rec["mac"])
            if row.id == first:
                row = change(row)
            row = replace(row, prev_hash=prev)
            body = body_of(row, row.extra)
            await self.put(row, body, mac=None if strip_macs else rec["mac"])
            prev = hashlib.sha256(body).hexdigest()

    async def append(self, entry: AuditEntry, *, mac: str | None = None) -> AuditRow:
        """A row added at the end, linked and hashed as Opscord would (but without the key's MAC)."""
        stored = await self.rows()
        last_id, last_hash = (stored[-1]["id"], stored[-1]["hash"]) if stored else (0, "0" * 64)
        sealed = seal(entry, last_id + 1, last_hash)
        await self.execute('INSERT INTO audit_log (id, timestamp, "user", command, result, extra, prev_hash, hash, '
                           "body, mac) VALUES (?, ?, ?, '', ?, '{}', ?, ?, ?, ?)", sealed.row.id,
                           sealed.row.timestamp, sealed.row.user, sealed.row.result, sealed.row.prev_hash,
                           sealed.row.hash, sealed.body, mac)
        await self.put(sealed.row, sealed.body, mac=mac)
        return sealed.row
