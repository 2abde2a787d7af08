"""`python -m bot store migrate`: copy a SQLite database into an empty PostgreSQL one, chain intact.

Both schemas are first brought to their newest version; then every table is copied in one
PostgreSQL transaction (COPY, in chunks). The audit rows go in as they are — same ids, same
hashes — through the database's chain trigger, which refuses any row that does not extend the
chain; afterwards the copy is verified row by row and its head compared with the source's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from bot.store.postgres import PostgresStore
from bot.store.postgres.connection import connect
from bot.store.records import INDEXED_KEYS, OPERATION_FIELDS, REVIEW_FIELDS, WATCH_FIELDS, VerifyResult
from bot.store.sqlite import SQLiteStore

CHUNK = 20_000
TABLES: dict[str, tuple[str, ...]] = {
    "audit_log": ("id", "timestamp", "user", "command", "approved_by", "result", "duration_seconds", "channel",
                  "extra", "prev_hash", "hash", *INDEXED_KEYS, "body", "mac"),
    "kv": ("key", "value"),
    "operations": OPERATION_FIELDS,
    "approvals": ("operation_id", "approver_id", "approver_name", "decision", "decided_at", "roles"),
    "locks": ("service", "environment", "operation_id", "holder_name", "since", "holder"),
    "deploys": ("id", "operation_id", "kind", "service", "environment", "version", "previous_version", "status",
                "requester", "started_at", "finished_at", "committed_at"),
    "incidents": ("id", "title", "severity", "service", "status", "commander_id", "commander_name", "thread_id",
                  "pager_key", "statuspage_id", "created_at", "resolved_at", "postmortem_event"),
    "announcements": ("id", "target", "text", "created_at", "posted_at"),
    "interactions": ("interaction_id", "operation_id", "epoch", "claimed_at"),
    "executions": ("operation_id", "attempt", "holder", "epoch", "started_at"),
    "break_glass_reviews": REVIEW_FIELDS,
    "break_glass_acks": ("op_id", "reviewer_id", "reviewer_name", "acked_at"),
    "health_watches": WATCH_FIELDS,
}
"""Tables in copy order (a decision after its operation), with the columns both schemas have."""
_ORDER = {"audit_log": "id", "approvals": "rowid", "deploys": "id", "announcements": "id"}


class CopyRefused(RuntimeError):
    """The copy cannot be made (the target is not empty, or the source is not an Opscord database)."""


@dataclass
class CopyReport:
    """What was copied, and the verdict on the copied chain."""

    rows: dict[str, int] = field(default_factory=dict)
    verify: VerifyResult | None = None
    head: tuple[int, str] | None = None

    def lines(self) -> list[str]:
        """A summary for the terminal."""
        copied = ", ".join(f"{n:,} {table}" for table, n in self.rows.items() if n)
        out = [f"copied {copied or 'nothing'}"]
        if self.verify is not None:
            out.append(f"PostgreSQL: {self.verify}" + (f"; head row {self.head[0]} matches the source"
                                                        if self.head and self.head[0] else ""))
        return out


def _converter(pg_type: str) -> Callable[[Any], Any]:
    if pg_type in ("bigint", "integer"):
        return int
    if pg_type == "double precision":
        return float
    if pg_type == "bytea":
        return bytes
    return str


def _chunks(conn: sqlite3.Connection, table: str, columns: tuple[str, ...],
            convert: list[Callable[[Any], Any]]) -> Iterator[list[tuple[Any, ...]]]:
    quoted = ", ".join(f'"{c}"' for c in columns)
    order = f" ORDER BY {_ORDER[table]}" if table in _ORDER else ""
    cursor = conn.execute(f"SELECT {quoted} FROM {table}{order}")  # noqa: S608 - fixed names
    while batch := cursor.fetchmany(CHUNK):
        yield [tuple(None if v is None else f(v) for v, f in zip(rec, convert, strict=True)) for rec in batch]


async def copy_sqlite_to_postgres(sqlite_path: Path, url: str) -> CopyReport:
    """Copy every table of the SQLite database at `sqlite_path` into the empty PostgreSQL database at `url`."""
    if not sqlite_path.is_file():  # noqa: ASYNC240 - one stat before minutes of copying
        raise CopyRefused(f"no SQLite database at {sqlite_path}")
    await (await SQLiteStore.open(sqlite_path)).close()  # carried forward to the newest schema first
    await (await PostgresStore.open(url)).close()
    source = sqlite3.connect(sqlite_path)
    target = await connect(url)
    report = CopyReport()
    try:
        if await target.fetchval("SELECT EXISTS (SELECT 1 FROM audit_log) OR EXISTS (SELECT 1 FROM operations)"):
            raise CopyRefused("the PostgreSQL database already holds an audit log or operations; copy into an "
                              "empty one")
        async with target.transaction():
            await target.execute("SELECT opscord_begin_write(NULL)")  # the chain is ours while we copy
            for table, columns in TABLES.items():
                types = dict(await target.fetch("SELECT column_name, data_type FROM information_schema.columns "
                                                "WHERE table_name = $1 AND table_schema = current_schema()", table))
                convert = [_converter(types[c]) for c in columns]
                report.rows[table] = 0
                for batch in _chunks(source, table, columns, convert):
                    await target.copy_records_to_table(table, records=batch, columns=list(columns))
                    report.rows[table] += len(batch)
            for table in ("deploys", "announcements", "approvals"):
                sequence = "seq" if table == "approvals" else "id"
                await target.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{sequence}'), "  # noqa: S608
                                     f"COALESCE((SELECT MAX({sequence}) FROM {table}), 0) + 1, false)")
    except asyncpg.PostgresError as exc:
        raise CopyRefused(f"PostgreSQL refused the copy: {exc}") from exc
    finally:
        source.close()
        await target.close()
    store = await PostgresStore.open(url)
    try:
        report.verify = await store.verify()
        report.head = await store.audit_head()
    finally:
        await store.close()
    sqlite_head = await _sqlite_head(sqlite_path)
    if report.verify.ok and report.head != sqlite_head:
        report.verify = VerifyResult(report.verify.rows, False, report.head[0], "the copy's head differs from the "
                                     f"source's (row {sqlite_head[0]})")
    return report


async def _sqlite_head(path: Path) -> tuple[int, str]:
    store = await SQLiteStore.open(path)
    try:
        return await store.audit_head()
    finally:
        await store.close()
