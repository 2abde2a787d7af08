"""SQLite point reads on the event loop's thread: they see every commit at once, and never wait."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.store import AuditEntry, Change, SQLiteStore
from bot.store.changes import Append, TakeLock


class Busy:
    """A connection that SQLite would have made wait (WAL could not give it a snapshot at once)."""

    def __init__(self, message: str = "database is locked") -> None:
        self.message = message
        self.calls = 0

    def execute(self, *args: object) -> None:
        self.calls += 1
        raise sqlite3.OperationalError(self.message)

    def close(self) -> None:
        pass


async def test_each_point_read_sees_the_commit_its_caller_waited_for(tmp_path: Path):
    store = await SQLiteStore.open(tmp_path / "opscord.db")
    try:
        for n in range(1, 41):
            row = await store.append(AuditEntry(user="@alice", command=f"/audit recent {n}", result="success",
                                                extra={"service": f"svc-{n % 3}"}))
            assert (await store.audit_head())[0] == row.id == n
            assert (await store.audit_recent(1))[0].command == f"/audit recent {n}"
        held = await store.apply(Change.of(TakeLock("svc-1", "staging", "op-1", "alice", "h")))
        assert held.ok
        lock = await store.lock("svc-1", "staging")
        assert lock is not None and lock.operation_id == "op-1"
        rows = await asyncio.gather(*(store.audit_recent(5, service="svc-2") for _ in range(20)))
        assert all([r.command for r in found] == [r.command for r in rows[0]] for found in rows)
        assert len(rows[0]) == 5
    finally:
        await store.close()


async def test_a_read_sqlite_would_make_wait_goes_to_a_reader_thread(tmp_path: Path):
    store = await SQLiteStore.open(tmp_path / "opscord.db")
    try:
        await store.apply(Change.of(Append(AuditEntry(user="@alice", command="/status", result="success"))))
        busy = Busy()
        store._inline = busy  # type: ignore[assignment]
        assert (await store.audit_head())[0] == 1
        assert [r.command for r in await store.audit_recent(10)] == ["/status"]
        assert busy.calls == 2
    finally:
        await store.close()


async def test_any_other_error_of_a_point_read_is_raised(tmp_path: Path):
    store = await SQLiteStore.open(tmp_path / "opscord.db")
    try:
        store._inline = Busy("no such table: audit_log")  # type: ignore[assignment]
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await store.audit_head()
    finally:
        await store.close()
