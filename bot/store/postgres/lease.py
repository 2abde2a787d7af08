"""The leader lease's SQL: one row in `leader_lease`, taken and renewed on a dedicated connection.

The lease is a row with an expiry on the database's clock, renewed by the leader; each take bumps
the epoch that fences writes (see `opscord_begin_write`). A standby takes it when it has expired
— a leader that hangs (SIGSTOP) or lost the database — or at once when the leader's lease session
is gone from `pg_stat_activity` (a leader killed with kill -9: the kernel closes its socket and
the server ends the session). The policy around it (how often, what losing it means) is
bot.leader's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg

from bot.store.postgres.connection import connect

_ACQUIRE = """
WITH old AS (SELECT holder, expires_at < clock_timestamp() AS expired FROM leader_lease WHERE id = 1 FOR UPDATE)
UPDATE leader_lease l SET epoch = l.epoch + 1, holder = $1, acquired_at = clock_timestamp(),
       renewed_at = clock_timestamp(), expires_at = clock_timestamp() + make_interval(secs => $2),
       backend_pid = pg_backend_pid(),
       backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())
FROM old
WHERE l.id = 1 AND (old.expired OR l.holder IS NULL OR NOT EXISTS (
    SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.backend_pid AND a.backend_start = l.backend_start))
RETURNING l.epoch, old.holder, old.expired
"""
_RENEW = """
UPDATE leader_lease SET renewed_at = clock_timestamp(), expires_at = clock_timestamp() + make_interval(secs => $2),
       backend_pid = pg_backend_pid(),
       backend_start = (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid())
WHERE id = 1 AND epoch = $1 RETURNING 1
"""
_RELEASE = "UPDATE leader_lease SET holder = NULL, expires_at = '-infinity' WHERE id = 1 AND epoch = $1"
_CURRENT = """
SELECT epoch, holder, expires_at > clock_timestamp() AS live,
       extract(epoch FROM clock_timestamp() - renewed_at)::float8 AS renewed_ago,
       extract(epoch FROM clock_timestamp() - acquired_at)::float8 AS held_for
FROM leader_lease WHERE id = 1
"""


@dataclass(frozen=True)
class Taken:
    """A lease just taken: the new epoch, and whom it was taken from (and why it could be)."""

    epoch: int
    previous: str | None
    expired: bool
    """True when the previous lease had expired; False when its holder's session was gone (or there was none)."""


@dataclass(frozen=True)
class LeaseState:
    """The lease as the database has it now."""

    epoch: int
    holder: str | None
    live: bool
    renewed_ago: float | None
    held_for: float | None


class Lease:
    """The lease row, reached through a connection of its own (never shared with the store's pool)."""

    def __init__(self, url: str, timeout: float = 2.0) -> None:
        """`timeout` bounds every call, so a database that stopped answering (a partition) is an error in time."""
        self._url = url
        self._timeout = timeout
        self._conn: asyncpg.Connection[Any] | None = None
        self._busy = asyncio.Lock()
        """One call at a time on the connection (the renewal and /healthz share it)."""

    async def _connection(self) -> asyncpg.Connection[Any]:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncio.wait_for(connect(self._url, statement_timeout="3000"), self._timeout)
        return self._conn

    async def try_acquire(self, holder: str, ttl: float) -> Taken | None:
        """Take the lease if it is free, expired, or its holder's session is gone; None while it is held."""
        async with self._busy:
            rec = await (await self._connection()).fetchrow(_ACQUIRE, holder, ttl, timeout=self._timeout)
        return Taken(int(rec[0]), rec[1], bool(rec[2])) if rec else None

    async def renew(self, epoch: int, ttl: float) -> bool:
        """Extend the lease by `ttl` seconds from now; False when another replica took it (a newer epoch)."""
        async with self._busy:
            return await (await self._connection()).fetchval(_RENEW, epoch, ttl, timeout=self._timeout) is not None

    async def release(self, epoch: int) -> None:
        """Give the lease up (a graceful stop), so a standby takes over at once."""
        async with self._busy:
            await (await self._connection()).execute(_RELEASE, epoch, timeout=self._timeout)

    async def current(self) -> LeaseState:
        """Who holds the lease, under which epoch, and how fresh it is."""
        async with self._busy:
            rec = await (await self._connection()).fetchrow(_CURRENT, timeout=self._timeout)
        assert rec is not None
        return LeaseState(int(rec[0]), rec[1], bool(rec[2]), rec[3], rec[4])

    def drop(self) -> None:
        """Forget the connection (after an error): the next call opens a new one."""
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None

    async def close(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
