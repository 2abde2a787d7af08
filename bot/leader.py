"""Leadership among replicas on PostgreSQL: exactly one holds the Discord gateway, under a lease.

The lease is a row in the database with an expiry renewed by the leader (bot.store.postgres.lease),
not a session advisory lock: a leader that is stopped (SIGSTOP), stalled or cut off from the
database keeps its session open, so an advisory lock would never free, while a lease simply runs
out. A leader killed outright (kill -9) is noticed at once instead: its lease session disappears
from `pg_stat_activity`, and the standby does not wait for the expiry.

- A standby opens the store, refuses every write (`store.standby()`), serves /healthz and /metrics,
  and polls the lease without connecting to Discord.
- Taking the lease bumps the epoch; the store stamps every write transaction with it and the
  database refuses a write of an older epoch (`Fenced`), so a leader that wakes after a takeover
  cannot approve, execute or audit anything.
- The leader renews every `ttl / 5` s. The moment it finds the lease taken — or has not renewed
  it for `0.8 * ttl` (it hung, or lost the database: it leaves before the lease can expire), or
  the database fences one of its writes — it leaves the gateway at once by ending the process
  (exit code 3, `LOST_LEASE_EXIT`): nothing of it can act any more, and its service manager
  starts it again as a standby.

With SQLite there is no lease: one process, as before (`Leadership.of` returns None).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.processes import THIS_PROCESS
from bot.store import AuditEntry, Store
from bot.store.postgres import PostgresStore
from bot.store.postgres.lease import Lease, Taken

if TYPE_CHECKING:
    from bot.client import OpsBot

log = logging.getLogger(__name__)
LOST_LEASE_EXIT = 3
SAFE_SHARE = 0.8
"""The share of the lease after its last renewal that a leader trusts it for (it leaves before it can expire)."""


def _exit_now(code: int) -> None:
    """End the process at once (the kernel closes the gateway socket); logs are flushed first."""
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    os._exit(code)


class Leadership:
    """One replica's side of the lease: wait to lead, hold the lead, say who leads."""

    def __init__(self, store: PostgresStore, lease: Lease, *, ttl: float, name: str | None = None,
                 on_lost: Callable[[int], None] = _exit_now) -> None:
        self.store = store
        self.lease = lease
        self.ttl = ttl
        self.name = name or str(THIS_PROCESS)
        self.taken: Taken | None = None
        self.renewed_at: float | None = None
        self.lost_reason: str | None = None
        self._on_lost = on_lost
        self._acquired_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._announcing: asyncio.Task[None] | None = None
        store.standby()
        store.on_fenced = lambda reason: self.lose(f"the database fenced a write ({reason})")

    @classmethod
    def of(cls, store: Store, ttl: float) -> Leadership | None:
        """The leadership for a replica's store (None for SQLite: a single process needs no lease)."""
        if not isinstance(store, PostgresStore):
            return None
        return cls(store, Lease(store.url, timeout=max(0.5, ttl / 3)), ttl=ttl)

    @property
    def leading(self) -> bool:
        """Whether this replica holds the lease."""
        return self.taken is not None and self.lost_reason is None

    @property
    def epoch(self) -> int | None:
        """This replica's epoch while it leads."""
        return self.taken.epoch if self.leading and self.taken else None

    async def wait_until_leader(self, stop: asyncio.Event) -> bool:
        """Poll the lease until this replica takes it (True), or until `stop` is set (False)."""
        log.info("standing by: waiting for the leader lease (%.1f s) before connecting to Discord", self.ttl)
        interval = max(0.2, self.ttl / 10)
        while not stop.is_set():
            try:
                taken = await self.lease.try_acquire(self.name, self.ttl)
            except Exception as exc:  # the database is away: keep waiting
                log.warning("standby: cannot reach the lease: %s", exc)
                self.lease.drop()
                taken = None
            if taken is not None:
                self._lead(taken)
                return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
        return False

    def _lead(self, taken: Taken) -> None:
        self.taken, self.lost_reason = taken, None
        self._acquired_at = self.renewed_at = time.monotonic()
        self.store.fence(taken.epoch, valid_until=self.renewed_at + self.ttl * SAFE_SHARE)
        self._task = asyncio.create_task(self._hold(), name="leader-lease")
        how = "its lease expired" if taken.expired else "its session ended"
        log.warning("took the leader lease: epoch %d%s", taken.epoch,
                    f" (from {taken.previous}: {how})" if taken.previous else "")

    def takeover_entry(self) -> AuditEntry:
        """The audit row a takeover leaves (written by the new leader, fenced by its epoch)."""
        assert self.taken is not None
        return AuditEntry(user="@opscord", command="leader takeover", result="leader",
                          extra={"epoch": self.taken.epoch, "replica": self.name, "previous": self.taken.previous})

    def takeover_line(self) -> str:
        """The audit channel's line on a takeover."""
        assert self.taken is not None
        previous = f" from `{self.taken.previous}` ({'lease expired' if self.taken.expired else 'its session ended'})" \
            if self.taken.previous else ""
        return f"🔁 Replica `{self.name}` took over the Discord gateway{previous}: leader epoch {self.taken.epoch}."

    def announce_when_ready(self, bot: OpsBot) -> None:
        """Once the gateway is ready: post the takeover's line in the audit channel, then sweep every `ttl` s."""
        self._announcing = asyncio.create_task(self._announce(bot), name="takeover-line")

    async def _announce(self, bot: OpsBot) -> None:
        await bot.wait_until_ready()
        await self._post_line(bot)
        await self._sweep(bot)

    async def _sweep(self, bot: OpsBot) -> None:
        """Every `ttl` s, settle what a deposed leader left: alive at the takeover (stopped), gone since."""
        while True:
            await asyncio.sleep(self.ttl)
            try:
                await bot.app.pipeline.recovery.recover(others_only=True)
            except Exception as exc:  # the next sweep tries again
                log.warning("sweeping for a deposed leader's operations failed: %s", exc)

    async def _post_line(self, bot: OpsBot) -> None:
        from bot.client.guild import resolve_channel

        config = bot.app.config
        channel = resolve_channel(bot, config.guild.id, config.channels.audit)
        if channel is None:
            log.warning("audit channel %r not found; the takeover is only in the audit log", config.channels.audit)
            return
        try:
            await channel.send(self.takeover_line())
        except Exception as exc:  # the line is a courtesy; the audit row is the record
            log.warning("could not post the takeover line: %s", exc)

    async def _hold(self) -> None:
        """Renew every `ttl / 5` s; step down once `0.8 * ttl` has passed without a renewal.

        The database lets the lease expire `ttl` after the last renewal (on its clock, which started
        no earlier than ours), so a leader cut off from it — or waking from a stop — leaves the
        gateway before a standby can take over: the two are never connected at once.
        """
        assert self.taken is not None and self.renewed_at is not None
        interval, safe = self.ttl / 5, self.ttl * SAFE_SHARE
        while self.lost_reason is None:
            await asyncio.sleep(max(0.0, min(interval, self.renewed_at + safe - time.monotonic())))
            left = self.renewed_at + safe - time.monotonic()
            if left <= 0:
                self.lose(f"could not renew the lease for {safe:.1f} s (stalled, or cut off from the database)")
                return
            started = time.monotonic()
            try:
                kept = await asyncio.wait_for(self.lease.renew(self.taken.epoch, self.ttl), left)
            except Exception as exc:  # the database is away: retry until the safe time is up
                self.lease.drop()
                log.warning("could not renew the leader lease (will retry): %s", exc or type(exc).__name__)
                continue
            if not kept:
                self.lose("another replica holds the lease now (a newer epoch)")
                return
            self.renewed_at = started
            self.store.valid_until = started + safe

    def lose(self, reason: str) -> None:
        """This replica is no longer the leader: refuse every write, then leave the gateway at once."""
        if self.lost_reason is not None:
            return
        self.lost_reason = reason
        self.store.standby()
        log.warning("lost the leader lease (epoch %s): %s; leaving the Discord gateway now",
                    self.taken.epoch if self.taken else "?", reason)
        self._on_lost(LOST_LEASE_EXIT)

    async def release(self) -> None:
        """A graceful stop (after the bot closed): give the lease up so the standby takes over at once."""
        for task in (self._task, self._announcing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        leading = self.leading
        self._on_lost = lambda code: None  # stopping anyway: a write fenced from here on only loses itself
        if leading and self.taken is not None:
            with contextlib.suppress(Exception):
                await self.lease.release(self.taken.epoch)
        await self.lease.close()

    async def health(self) -> dict[str, Any]:
        """For /healthz: this replica's role, and the leader's epoch and lease age as the database has them."""
        body: dict[str, Any] = {"role": "leader" if self.leading else "standby", "replica": self.name}
        try:
            state = await self.lease.current()
        except Exception as exc:
            self.lease.drop()
            return body | {"lease": f"unreadable: {exc}"}
        return body | {"leader": state.holder if state.live else None, "epoch": state.epoch,
                       "lease_age_seconds": None if state.renewed_ago is None else round(state.renewed_ago, 3),
                       "leader_for_seconds": None if state.held_for is None else round(state.held_for, 1)}

    async def metric_lines(self) -> list[str]:
        """For /metrics: role, epoch and lease age (Prometheus text)."""
        health = await self.health()
        age = health.get("lease_age_seconds")
        return [
            "# HELP opscord_leader Whether this replica holds the leader lease (and the Discord gateway).",
            "# TYPE opscord_leader gauge", f"opscord_leader {int(self.leading)}",
            "# HELP opscord_leader_epoch The current leader epoch (increases with each takeover).",
            "# TYPE opscord_leader_epoch gauge", f"opscord_leader_epoch {health.get('epoch', -1)}",
            "# HELP opscord_lease_age_seconds Seconds since the leader last renewed its lease.",
            "# TYPE opscord_lease_age_seconds gauge", f"opscord_lease_age_seconds {-1 if age is None else age}",
            "# HELP opscord_fenced_writes_total Changes the database refused because this replica's epoch was stale.",
            "# TYPE opscord_fenced_writes_total counter", f"opscord_fenced_writes_total {self.store.fenced_writes}",
        ]
