"""The SQLite store: one group-committing writer, readers that never wait for it, WAL + synchronous=FULL.

Every `Change` goes to one writer task. It takes whatever changes are waiting, applies each in a
savepoint of one transaction — all of it in a single hop to the writer's thread — commits, and
only then releases each caller, so a reply is never sent before its audit row is durable. A change
that conflicts or cannot be stored is rolled back to its savepoint and fails alone; the rest of
the batch commits. Reads run on a small pool of connections of their own (WAL readers see the last
commit and never wait for the writer, nor for a slow read beside them); long scans (verify,
export) open one each.

Point reads — an index lookup with a small LIMIT, tens of microseconds of SQLite — run on the event
loop's own thread, on a connection of their own: a hop to a reader thread and back costs more
than the read (≈0.1 to 0.3 ms, and the GIL handed back and forth). Such a connection never waits: with
no busy timeout, the rare moment WAL cannot give it a snapshot at once sends the read to a reader
thread instead. Anything that can grow with the data (lists of operations, scans, counts) stays on
the reader threads.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TypeVar

from bot.store.chain import ChainKey, first_finding
from bot.store.changes import Append, Applied, Change
from bot.store.migration_files import Migration
from bot.store.records import (
    Announcement,
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
    StoreCounts,
    TargetFacts,
    VerifyResult,
)
from bot.store.sqlite import reads
from bot.store.sqlite.connection import Worker, bundled_migrations, migrate, open_worker
from bot.store.sqlite.writes import apply_change, read_head

__all__ = ["SQLiteStore"]

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BATCH = 1000
READERS = 3
"""Reader connections: WAL lets each read the last commit while the writer writes."""
_EXPORT_CHUNK = 2000
_FEW = frozenset({"pending_approval", "pending_confirmation", "running"})
"""Statuses that only a few operations are in at once (people answer or they expire; runs are bounded)."""


def _commit_batch(conn: sqlite3.Connection, changes: list[Change], key: ChainKey | None) -> list[Applied | Exception]:
    """One transaction for the whole batch; each change in its own savepoint (runs on the writer thread)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        head = read_head(conn)
        results: list[Applied | Exception] = []
        for change in changes:
            try:
                applied, head = apply_change(conn, change, head, key)
            except Exception as exc:  # this change alone fails; the batch goes on
                results.append(exc)
            else:
                results.append(applied)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return results


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLite could not take a read snapshot at once (it would have waited)."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def open_inline(path: Path) -> sqlite3.Connection:
    """The event loop's own read-only connection for point reads: it never waits (no busy timeout)."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=0")
    conn.execute("PRAGMA query_only=ON")
    return conn


class SQLiteStore:
    """The embedded store. Open with `await SQLiteStore.open(path)`; close with `await store.close()`."""

    def __init__(self, path: Path, writer: Worker, readers: list[Worker], chain_key: ChainKey | None = None,
                 inline: sqlite3.Connection | None = None) -> None:
        self.path = path
        self._key = chain_key
        self._writer = writer
        self._readers = readers
        self._inline = inline
        self._idle: asyncio.Queue[Worker] = asyncio.Queue()
        for reader in readers:
            self._idle.put_nowait(reader)
        self._queue: asyncio.Queue[tuple[Change, asyncio.Future[Applied]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = asyncio.create_task(self._write_loop(), name="store-writer")
        self.appended: collections.Counter[str] = collections.Counter()

    @classmethod
    async def open(cls, path: Path, migrations: list[Migration] | None = None, *,
                   chain_key: ChainKey | None = None) -> SQLiteStore:
        """Open (creating if needed) the database and carry it forward through the pending migrations.

        With `chain_key`, every row this store appends carries its MAC (a keyed chain, bot.store.chain).
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await open_worker(path, writer=True)
        try:
            await writer.run(partial(migrate, migrations=bundled_migrations() if migrations is None else migrations))
            readers = [await open_worker(path, writer=False) for _ in range(READERS)]
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, readers, chain_key, open_inline(path))

    # --- writing ----------------------------------------------------------------------------------
    async def apply(self, change: Change) -> Applied:
        """Queue the change; return once it is committed (or raise why it could not be)."""
        if self._task is None:
            raise RuntimeError("the store is closed")
        future: asyncio.Future[Applied] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((change, future))
        return await asyncio.shield(future)

    async def append(self, entry: AuditEntry) -> AuditRow:
        """Append one audit row."""
        applied = await self.apply(Change((Append(entry),)))
        return applied.rows[0]

    def pending_writes(self) -> int:
        """Changes queued for the writer and not yet taken into a batch (for /metrics)."""
        return self._queue.qsize()

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            try:
                results = await self._writer.run(partial(_commit_batch, changes=[change for change, _ in batch],
                                                         key=self._key))
            except Exception as exc:  # the transaction itself failed (disk full, database locked): all fail
                log.error("the store could not commit %d change(s): %s", len(batch), exc)
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, Exception):
                    if not future.done():
                        future.set_exception(result)
                else:
                    for row in result.rows:
                        self.appended[row.result] += 1
                    if not future.done():
                        future.set_result(result)
                self._queue.task_done()

    # --- operations -------------------------------------------------------------------------------
    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on an idle reader connection (a slow one never holds up the others)."""
        reader = await self._idle.get()
        try:
            return await reader.run(fn)
        finally:
            self._idle.put_nowait(reader)

    async def _point(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """A point read, on this thread; on a reader thread when SQLite cannot answer it at once."""
        if self._inline is not None:
            try:
                return fn(self._inline)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
        return await self._read(fn)

    async def operation(self, op_id: str) -> Operation | None:
        """The operation with this id."""
        return await self._point(partial(reads.operation_of, op_id=op_id))

    async def operation_and_decisions(self, op_id: str) -> tuple[Operation | None, list[Decision]]:
        """The operation and its decisions."""
        return await self._point(partial(reads.operation_and_decisions, op_id=op_id))

    async def operations(self, *statuses: str) -> list[Operation]:
        """Operations in these statuses, oldest first."""
        read = partial(reads.operations_in, statuses=statuses)
        return await (self._point(read) if set(statuses) <= _FEW else self._read(read))

    async def operation_by_message(self, message_id: str) -> Operation | None:
        """The operation this Discord message shows."""
        return await self._point(partial(reads.operation_by_message, message_id=message_id))

    async def unshown(self, limit: int = 50) -> list[tuple[Operation, list[Decision]]]:
        """Operations whose message lags behind their latest revision."""
        return await self._read(partial(reads.unshown, limit=limit))

    async def target(self, service: str, environment: str) -> TargetFacts:
        """What a new request on this target needs to know."""
        return await self._point(partial(reads.target, service=service, environment=environment))

    async def lock(self, service: str, environment: str) -> Lock | None:
        """Who holds (service, environment)."""
        return await self._point(partial(reads.lock_of, service=service, environment=environment))

    async def locks(self) -> list[Lock]:
        """Every held lock."""
        return await self._read(reads.locks)

    async def deploy_history(self, service: str, environment: str | None = None, limit: int = 20
                             ) -> list[DeployRecord]:
        """Latest first."""
        return await self._point(partial(reads.deploy_history, service=service, environment=environment,
                                              limit=limit))

    async def deploys_in(self, environments: Iterable[str]) -> list[DeployRecord]:
        """Oldest first."""
        return await self._read(partial(reads.deploys_in, environments=tuple(environments)))

    async def versions(self, service: str, containing: str, limit: int = 25) -> list[str]:
        """Recently deployed versions."""
        return await self._point(partial(reads.versions, service=service, containing=containing, limit=limit))

    # --- incidents, announcements, facts ----------------------------------------------------------
    async def incident(self, incident_id: str) -> Incident | None:
        """One incident."""
        return await self._point(partial(reads.incident, incident_id=incident_id))

    async def incidents(self, *, open_only: bool) -> list[Incident]:
        """Incidents, oldest first."""
        read = partial(reads.incidents, open_only=open_only)
        return await (self._point(read) if open_only else self._read(read))  # open ones are few; all, not

    async def incident_events(self, incident_id: str) -> list[IncidentEvent]:
        """An incident's timeline."""
        return await self._read(partial(reads.incident_events, incident_id=incident_id))

    async def deploys_between(self, start: str, end: str, service: str | None = None) -> list[DeployRecord]:
        """Deploys that started in [start, end]."""
        return await self._read(partial(reads.deploys_between, start=start, end=end, service=service))

    async def unposted(self, limit: int = 20) -> list[Announcement]:
        """Queued posts."""
        return await self._point(partial(reads.unposted, limit=limit))

    async def fact(self, key: str) -> str | None:
        """A remembered fact."""
        return await self._point(partial(reads.fact, key=key))

    async def counts(self) -> StoreCounts:
        """Gauges."""
        return await self._read(reads.counts)

    # --- break-glass reviews and health watches ---------------------------------------------------
    async def review(self, op_id: str) -> Review | None:
        """The review of a break-glass operation."""
        return await self._read(partial(reads.review, op_id=op_id))

    async def reviews(self, *, open_only: bool) -> list[Review]:
        """Break-glass reviews, oldest first (the open ones, few and indexed, read inline: /status asks)."""
        read = partial(reads.reviews, open_only=open_only)
        return await (self._point(read) if open_only else self._read(read))

    async def unshown_reviews(self) -> list[Review]:
        """Reviews whose message or reminder lags behind."""
        return await self._read(reads.unshown_reviews)

    async def watches(self, *statuses: str) -> list[HealthWatch]:
        """Health watches in these statuses."""
        return await self._read(partial(reads.watches, statuses=statuses))

    # --- the audit log ----------------------------------------------------------------------------
    async def audit_recent(self, limit: int = 10, *, user_id: str | None = None, user: str | None = None,
                           service: str | None = None) -> list[AuditRow]:
        """Latest rows, newest first."""
        return await self._point(partial(reads.audit_recent, limit=limit, user_id=user_id, user=user,
                                              service=service))

    async def audit_rows(self, since: str | None = None) -> AsyncIterator[AuditRow]:
        """Every row in chain order, read in chunks on a connection of its own."""
        scan = await open_worker(self.path, writer=False)
        try:
            after = 0
            while rows := await scan.run(partial(reads.audit_chunk, after_id=after, since=since,
                                                 size=_EXPORT_CHUNK)):
                for row in rows:
                    yield row
                after = rows[-1].id
        finally:
            await scan.close()

    async def audit_head(self) -> tuple[int, str]:
        """(id, hash) of the newest row."""
        return await self._point(reads.audit_head)

    async def audit_hashes(self, row_ids: Iterable[int]) -> dict[int, str]:
        """Stored hashes of these rows."""
        return await self._read(partial(reads.audit_hashes, row_ids=tuple(row_ids)))

    async def audit_seal(self, row_id: int) -> tuple[str, str | None] | None:
        """(hash, MAC or None) of one row."""
        return await self._read(partial(reads.audit_seal, row_id=row_id))

    async def verify(self, *, key: ChainKey | None = None, after: tuple[int, str] | None = None) -> VerifyResult:
        """Walk the chain on a connection of its own while another checks the index columns against it.

        The walk hashes each stored body (Python, holding the GIL); the column check runs inside
        SQLite (which lets go of the GIL), so on two cores the two take about as long as the longer.
        """
        scan = await open_worker(self.path, writer=False)
        check = await open_worker(self.path, writer=False)
        try:
            start: tuple[int, str, str | None] | None = None
            if after is not None:
                trusted = await scan.run(partial(reads.trusted_start, row_id=after[0], digest=after[1]))
                if isinstance(trusted, VerifyResult):
                    return trusted
                start = trusted
            walked, columns = await asyncio.gather(
                scan.run(partial(reads.walk_chain, key=key, start=start)),
                check.run(partial(reads.columns_check, after=start[0] if start else 0)))
            return first_finding(walked, columns)
        finally:
            await scan.close()
            await check.close()

    async def close(self) -> None:
        """Commit what is queued, stop the writer, close the connections."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for reader in self._readers:
            await reader.close()
        if self._inline is not None:
            self._inline.close()
            self._inline = None
        await self._writer.close()
