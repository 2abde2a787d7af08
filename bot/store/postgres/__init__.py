"""The PostgreSQL store (asyncpg), for replicas: the same protocol and semantics as the SQLite store.

One writer task owns a connection and group-commits: whatever changes are waiting go into one
transaction that begins with `opscord_begin_write(epoch)` — it serialises appends across
processes (so the hash chain never forks), refuses a writer whose leader epoch is stale (`Fenced`)
and returns the chain's head. Each change runs in a savepoint and fails alone; runs of lone audit
rows are inserted with one `executemany`. Callers are released only after the commit. Reads use a
small pool. `fence(epoch)` is how the leader lease (bot.leader) stamps every write with its epoch;
`standby()` refuses every write until then.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

import asyncpg

from bot.store.chain import ChainKey, Walker, first_finding, start_of
from bot.store.changes import Append, Applied, Change, Fenced
from bot.store.migration_files import Migration
from bot.store.postgres import reads
from bot.store.postgres.connection import WRITER_SETTINGS, bundled_migrations, connect, migrate
from bot.store.postgres.writes import AUDIT_INSERT, Head, apply_change, lone_append, sign
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

__all__ = ["PostgresStore", "is_postgres_url"]

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BATCH = 1000
READERS = 3
_EXPORT_CHUNK = 2000
FENCED_SQLSTATE = "OF001"
_STANDBY = object()


def is_postgres_url(url: str | None) -> bool:
    """Whether `url` names a PostgreSQL database (postgresql:// or postgres://)."""
    return bool(url) and str(url).startswith(("postgresql://", "postgres://"))


class _Careful(Exception):
    """The fast path hit a database error: redo the batch with a savepoint for every change."""


class PostgresStore:
    """The store on PostgreSQL. Open with `await PostgresStore.open(url)`; close with `await store.close()`."""

    def __init__(self, url: str, writer: asyncpg.Connection[Any], pool: asyncpg.Pool[Any],
                 chain_key: ChainKey | None = None) -> None:
        self.url = url
        self._key = chain_key
        self._writer = writer
        self._pool = pool
        self._queue: asyncio.Queue[tuple[Change, asyncio.Future[Applied]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = asyncio.create_task(self._write_loop(), name="store-writer")
        self._epoch: int | object | None = None
        self.valid_until: float | None = None
        """While fenced: the monotonic time the leader's lease is surely still its own (None: no limit)."""
        self.appended: collections.Counter[str] = collections.Counter()
        self.fenced_writes = 0
        """Changes refused because this process's epoch was stale (for /metrics and the tests)."""
        self.on_fenced: Callable[[str], None] | None = None
        """Called (with the database's reason) the moment a write is refused as fenced: the lease steps down."""

    @classmethod
    async def open(cls, url: str, migrations: list[Migration] | None = None, *,
                   chain_key: ChainKey | None = None) -> PostgresStore:
        """Connect, carry the schema forward through the pending migrations, open the read pool.

        With `chain_key`, every row this store appends carries its MAC (a keyed chain, bot.store.chain).
        """
        writer = await connect(url, **WRITER_SETTINGS)
        try:
            try:
                await migrate(writer, bundled_migrations() if migrations is None else migrations)
            except asyncpg.InsufficientPrivilegeError as exc:
                raise RuntimeError(f"the database's schema needs migrating and this role may not ({exc}): run "
                                   "`python -m bot store migrate --to URL` as the database's owner") from exc
            pool = await asyncpg.create_pool(url, min_size=1, max_size=READERS,
                                             server_settings={"application_name": "opscord"})
        except BaseException:
            await writer.close()
            raise
        return cls(url, writer, pool, chain_key)

    # --- fencing ----------------------------------------------------------------------------------
    def standby(self) -> None:
        """Refuse every write (this replica does not hold the lease)."""
        self._epoch = _STANDBY

    def fence(self, epoch: int, valid_until: float | None = None) -> None:
        """Stamp every following write transaction with `epoch`; the database refuses it once a newer one exists.

        Past `valid_until` (monotonic; the leader moves it on with each renewal) writes are refused
        here already, and a write that failed because its connection was lost meanwhile (a leader
        stopped in the middle of a transaction wakes to find its session ended) counts as fenced.
        """
        self._epoch = epoch
        self.valid_until = valid_until

    def _stale(self) -> bool:
        return self.valid_until is not None and time.monotonic() > self.valid_until

    def _refuse(self, changes: list[Change], reason: str) -> list[Applied | BaseException]:
        self.fenced_writes += len(changes)
        log.warning("the database refused %d change(s): %s", len(changes), reason)
        if self.on_fenced is not None:
            self.on_fenced(reason)
        return [Fenced(reason)] * len(changes)

    @property
    def epoch(self) -> int | None:
        """The epoch writes carry (None: unfenced, or a standby)."""
        return self._epoch if isinstance(self._epoch, int) else None

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

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
            results = await self._commit_or_fail([change for change, _ in batch])
            for (_, future), result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    if not future.done():
                        future.set_exception(result)
                else:
                    for row in result.rows:
                        self.appended[row.result] += 1
                    if not future.done():
                        future.set_result(result)
                self._queue.task_done()

    async def _commit_or_fail(self, changes: list[Change]) -> list[Applied | BaseException]:
        if self._epoch is _STANDBY:
            self.fenced_writes += len(changes)
            return [Fenced("this replica is a standby: it does not write")] * len(changes)
        epoch = self.epoch
        if self._stale():
            return self._refuse(changes, "fenced: this replica's lease ran out before the write")
        try:
            try:
                return await self._commit(changes, epoch, careful=False)
            except _Careful:
                return await self._commit(changes, epoch, careful=True)
        except asyncpg.PostgresError as exc:
            if exc.sqlstate == FENCED_SQLSTATE:
                return self._refuse(changes, str(exc))
            if self._stale():
                return self._refuse(changes, f"fenced: this replica's lease ran out during the write ({exc})")
            log.error("the store could not commit %d change(s): %s", len(changes), exc)
            if self._writer.is_closed():  # e.g. the server ended the session: the next batch gets a new one
                await self._reconnect()
            return [exc] * len(changes)
        except (OSError, asyncpg.InterfaceError) as exc:  # the connection is gone: all fail, the next batch retries
            if self._stale():
                return self._refuse(changes, f"fenced: this replica's lease ran out during the write ({exc})")
            log.error("the store could not commit %d change(s): %s", len(changes), exc)
            await self._reconnect()
            return [exc] * len(changes)

    async def _reconnect(self) -> None:
        with contextlib.suppress(Exception):
            await self._writer.close(timeout=1)
        try:
            self._writer = await connect(self.url, **WRITER_SETTINGS)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("the store's writer could not reconnect yet: %s", exc)

    async def _commit(self, changes: list[Change], epoch: int | None, *,
                      careful: bool) -> list[Applied | BaseException]:
        """One transaction: begin (lock, fence, head), every change, commit."""
        conn = self._writer
        async with conn.transaction():
            rec = await conn.fetchrow("SELECT head_id, head_hash FROM opscord_begin_write($1)", epoch)
            assert rec is not None
            head = Head(int(rec[0]), str(rec[1]))
            results: list[Applied | BaseException] = []
            pending: list[tuple[Any, ...]] = []  # a run of lone audit rows, inserted together
            for change in changes:
                append = None if careful else lone_append(change)
                if append is not None:
                    try:
                        row, params = sign(append.entry, head, self._key)
                    except (UnicodeError, ValueError) as exc:
                        results.append(exc)
                        continue
                    pending.append(params)
                    results.append(Applied(rows=(row,)))
                    continue
                await self._flush(conn, pending)
                try:
                    results.append(await apply_change(conn, change, head, epoch, self._key))
                except asyncpg.PostgresError as exc:
                    if exc.sqlstate == FENCED_SQLSTATE:
                        raise
                    results.append(exc)
                except Exception as exc:  # this change alone fails (e.g. a field that cannot change)
                    results.append(exc)
            await self._flush(conn, pending)
        return results

    @staticmethod
    async def _flush(conn: asyncpg.Connection[Any], pending: list[tuple[Any, ...]]) -> None:
        if not pending:
            return
        try:
            await conn.executemany(AUDIT_INSERT, pending)
        except asyncpg.PostgresError as exc:  # one of them could not be stored after all: go careful
            raise _Careful(str(exc)) from exc
        finally:
            pending.clear()

    # --- reading ----------------------------------------------------------------------------------
    async def _read(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        async with self._pool.acquire() as conn:
            return await fn(conn, *args)

    async def operation(self, op_id: str) -> Operation | None:
        """The operation with this id."""
        return await self._read(reads.operation, op_id)

    async def operation_and_decisions(self, op_id: str) -> tuple[Operation | None, list[Decision]]:
        """The operation and its decisions."""
        return await self._read(reads.operation_and_decisions, op_id)

    async def operations(self, *statuses: str) -> list[Operation]:
        """Operations in these statuses, oldest first."""
        return await self._read(reads.operations_in, statuses)

    async def unshown(self, limit: int = 50) -> list[tuple[Operation, list[Decision]]]:
        """Operations whose message lags behind their latest revision."""
        return await self._read(reads.unshown, limit)

    async def target(self, service: str, environment: str) -> TargetFacts:
        """What a new request on this target needs to know."""
        return await self._read(reads.target, service, environment)

    async def lock(self, service: str, environment: str) -> Lock | None:
        """Who holds (service, environment)."""
        return await self._read(reads.lock_of, service, environment)

    async def locks(self) -> list[Lock]:
        """Every held lock."""
        return await self._read(reads.locks)

    async def deploy_history(self, service: str, environment: str | None = None, limit: int = 20
                             ) -> list[DeployRecord]:
        """Latest first."""
        return await self._read(reads.deploy_history, service, environment, limit)

    async def deploys_in(self, environments: Iterable[str]) -> list[DeployRecord]:
        """Oldest first."""
        return await self._read(reads.deploys_in, tuple(environments))

    async def versions(self, service: str, containing: str, limit: int = 25) -> list[str]:
        """Recently deployed versions."""
        return await self._read(reads.versions, service, containing, limit)

    async def incident(self, incident_id: str) -> Incident | None:
        """One incident."""
        return await self._read(reads.incident, incident_id)

    async def incidents(self, *, open_only: bool) -> list[Incident]:
        """Incidents, oldest first."""
        return await self._read(reads.incidents, open_only)

    async def unposted(self, limit: int = 20) -> list[Announcement]:
        """Queued posts."""
        return await self._read(reads.unposted, limit)

    async def incident_events(self, incident_id: str) -> list[IncidentEvent]:
        """An incident's events, in order."""
        return await self._read(reads.incident_events, incident_id)

    async def deploys_between(self, start: str, end: str, service: str | None = None) -> list[DeployRecord]:
        """Deploys and rollbacks that started in [start, end], oldest first."""
        return await self._read(reads.deploys_between, start, end, service)

    async def operation_by_message(self, message_id: str) -> Operation | None:
        """The operation this Discord message shows."""
        return await self._read(reads.operation_by_message, message_id)

    async def fact(self, key: str) -> str | None:
        """A remembered fact."""
        return await self._read(reads.fact, key)

    async def counts(self) -> StoreCounts:
        """Gauges."""
        return await self._read(reads.counts)

    async def review(self, op_id: str) -> Review | None:
        """The review of a break-glass operation."""
        return await self._read(reads.review, op_id)

    async def reviews(self, *, open_only: bool) -> list[Review]:
        """Break-glass reviews, oldest first."""
        return await self._read(reads.reviews, open_only)

    async def unshown_reviews(self) -> list[Review]:
        """Reviews whose message or reminder lags behind."""
        return await self._read(reads.unshown_reviews)

    async def watches(self, *statuses: str) -> list[HealthWatch]:
        """Health watches in these statuses."""
        return await self._read(reads.watches, statuses)

    async def audit_recent(self, limit: int = 10, *, user_id: str | None = None, user: str | None = None,
                           service: str | None = None) -> list[AuditRow]:
        """Latest rows, newest first."""
        return await self._read(reads.audit_recent, limit, user_id, user, service)

    async def audit_rows(self, since: str | None = None) -> AsyncIterator[AuditRow]:
        """Every row in chain order, read in chunks."""
        after = 0
        while rows := await self._read(reads.audit_chunk, after, since, _EXPORT_CHUNK):
            for row in rows:
                yield row
            after = rows[-1].id

    async def audit_head(self) -> tuple[int, str]:
        """(id, hash) of the newest row."""
        return await self._read(reads.audit_head)

    async def audit_hashes(self, row_ids: Iterable[int]) -> dict[int, str]:
        """Stored hashes of these rows."""
        return await self._read(reads.audit_hashes, tuple(row_ids))

    async def audit_seal(self, row_id: int) -> tuple[str, str | None] | None:
        """(hash, MAC or None) of one row."""
        return await self._read(reads.audit_seal, row_id)

    async def verify(self, *, key: ChainKey | None = None, after: tuple[int, str] | None = None) -> VerifyResult:
        """Walk the chain while the server checks the index columns against it (in its own process)."""
        start: tuple[int, str, str | None] | None = None
        if after is not None:
            trusted = start_of(await self.audit_seal(after[0]), *after)
            if isinstance(trusted, VerifyResult):
                return trusted
            start = trusted
        walked, columns = await asyncio.gather(self._walk(key, start),
                                               self._read(reads.columns_check, start[0] if start else 0))
        return first_finding(walked, columns)

    async def _walk(self, key: ChainKey | None, start: tuple[int, str, str | None] | None) -> VerifyResult:
        walker = Walker(key, start)
        after = start[0] if start else 0
        async with self._pool.acquire() as conn:
            first = await reads.first_body(conn, after)
            if first is None or first > after + 1:
                async for records in reads.legacy_records(conn, after, first):
                    failed = walker.feed_legacy(records)
                    if failed is not None:
                        return failed
            if first is not None:
                async for chunk in reads.body_records(conn, first):
                    failed = walker.feed(chunk)
                    if failed is not None:
                        return failed
        return walker.result()

    async def close(self) -> None:
        """Commit what is queued, stop the writer, close the connections."""
        if self._task is not None:
            await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._pool.close()
        await self._writer.close()
