"""Crash recovery, run before the bot accepts any interaction.

It touches only operations whose holder process is really gone (a pid reused since does not count,
and operations the CLI fallback or another live process runs are left alone). Each of them either
left a provider process running — which the next start waits for or ends, per `[operations]
orphans` — or is marked interrupted. Every outcome is audited and announced in the deployments
channel, and the operation's message is brought up to date from the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.config import OpscordConfig
from bot.pipeline import messages, states
from bot.pipeline.entries import operation_entry
from bot.pipeline.notices import requester_notice
from bot.processes import THIS_PROCESS, ProcessIdentity, holder_alive, processes_with_env, terminate
from bot.store import Change, Operation, Store
from bot.store.changes import (
    Announce,
    Append,
    FinishDeploy,
    FreeLock,
    HandOverLock,
    Step,
    UpdateIncident,
    UpdateOperation,
)
from bot.times import now_iso, parse_iso

log = logging.getLogger("bot.pipeline")
ORPHAN_POLL_SECONDS = 0.5
END_GRACE_SECONDS = 5.0


@dataclass
class RecoveryReport:
    """What recovery did."""

    interrupted: list[str] = field(default_factory=list)
    waiting_for: list[str] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    freed_locks: int = 0
    watches_ended: int = 0
    """Health watches of a process that is gone, ended as interrupted."""


def orphans_of(op: Operation) -> list[ProcessIdentity]:
    """Provider processes of `op` still running: the one on record, and any carrying its request id."""
    found: dict[int, ProcessIdentity] = {}
    recorded = ProcessIdentity.parse(op.provider_process) if op.provider_process else None
    if recorded is not None and recorded.alive():
        found[recorded.pid] = recorded
    for process in processes_with_env("OPSCORD_REQUEST_ID", op.id):
        found.setdefault(process.pid, process)
    return list(found.values())


class Recovery:
    """Finds what a dead process left behind and settles it."""

    def __init__(self, config: OpscordConfig, store: Store, changed: asyncio.Event) -> None:
        self._config = config
        self._store = store
        self._changed = changed
        self._watchers: set[asyncio.Task[None]] = set()
        self.adopted: set[str] = set()
        """Operations whose orphaned provider this process waits for."""

    async def recover(self, *, others_only: bool = False) -> RecoveryReport:
        """Settle every operation and lock left by a process that is gone.

        `others_only` is a leader's later sweep for what a deposed leader on this host (alive at the
        takeover because it was stopped, gone since) left behind: it leaves this process's own
        operations alone, and those of other hosts (whose processes it cannot see: the takeover's
        recovery settled them, and a CLI fallback running there must not be taken for dead).
        """
        report = RecoveryReport()
        for op in await self._store.operations(*states.HOLDING):
            if holder_alive(op.holder):  # another live process runs it (the CLI fallback, say)
                continue
            if others_only and (op.holder == str(THIS_PROCESS) or not _on_this_host(op.holder)):
                continue
            orphans = orphans_of(op)
            if not orphans:
                await self.interrupt(op, messages.interrupted(op))
                report.interrupted.append(op.id)
            elif self._config.operations.orphans == "wait":
                await self._adopt(op, orphans)
                report.waiting_for.append(op.id)
            else:
                await self._end(op, orphans)
                report.ended.append(op.id)
        report.freed_locks = await self._free_stale_locks()
        await self._close_unfinished_incidents()
        if report.interrupted or report.waiting_for or report.ended:
            self._changed.set()
        return report

    async def interrupt(self, op: Operation, text: str, *, error: str | None = None) -> None:
        """Mark a held operation interrupted: outcome, history, lock, audit row and announcement together."""
        _, decisions = await self._store.operation_and_decisions(op.id)
        approved_by = ", ".join(f"@{d.approver_name}" for d in decisions if d.decision == "approve") or None
        steps: list[Step | None] = [
            states.move(op.id, states.HOLDING, "interrupted", finished_at=now_iso(), outcome=text,
                        provider_process=None),
            FreeLock(op.id),
            Append(operation_entry(op, "interrupted", approved_by=approved_by,
                                   error=error or "Opscord stopped before the outcome was recorded")),
            Announce(text),
            requester_notice(self._config, dataclasses.replace(op, status="interrupted", outcome=text), decisions),
        ]
        if op.action in ("deploy", "rollback"):
            steps.insert(1, FinishDeploy(op.id, "interrupted"))
        applied = await self._store.apply(Change.of(*steps))
        if not applied.ok:
            log.info("operation %s moved on before it could be marked interrupted", op.id)

    async def _adopt(self, op: Operation, orphans: list[ProcessIdentity]) -> None:
        """Hold the lock (as this process) until the orphaned provider ends, then report it interrupted."""
        await self._store.apply(Change.of(
            UpdateOperation(op.id, {"holder": str(THIS_PROCESS)}), HandOverLock(op.id, str(THIS_PROCESS)),
            Append(operation_entry(op, "waiting", error=f"provider still running after a restart "
                                                         f"(pids {', '.join(str(p.pid) for p in orphans)})")),
            Announce(messages.orphan_waiting(op, len(orphans)))))
        log.warning("operation %s: its provider is still running (%s); waiting for it", op.id,
                    ", ".join(str(p.pid) for p in orphans))
        self.adopted.add(op.id)
        task = asyncio.create_task(self._wait_then_interrupt(op, orphans), name=f"orphan-{op.id}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _wait_then_interrupt(self, op: Operation, orphans: list[ProcessIdentity]) -> None:
        deadline = asyncio.get_running_loop().time() + self._config.operations.timeout_minutes * 60.0
        while any(p.alive() for p in orphans):
            if asyncio.get_running_loop().time() > deadline:
                await asyncio.to_thread(_end_processes, orphans)
                break
            await asyncio.sleep(ORPHAN_POLL_SECONDS)
        await self.interrupt(op, messages.interrupted(op), error="its provider ended after a restart; outcome unknown")
        self.adopted.discard(op.id)
        self._changed.set()

    async def _end(self, op: Operation, orphans: list[ProcessIdentity]) -> None:
        await asyncio.to_thread(_end_processes, orphans)
        log.warning("operation %s: ended its orphaned provider (%s)", op.id, ", ".join(str(p.pid) for p in orphans))
        await self.interrupt(op, messages.orphan_ended(op, len(orphans)),
                             error="its provider was still running after a restart and was ended")

    async def _free_stale_locks(self) -> int:
        """Locks whose operation no longer holds them (the process died between two writes)."""
        freed = 0
        for lock in await self._store.locks():
            op = await self._store.operation(lock.operation_id)
            if op is None or op.status not in states.HOLDING:
                await self._store.apply(Change.of(FreeLock(lock.operation_id)))
                log.warning("freed the stale lock of %s in %s (operation %s)", lock.service, lock.environment,
                            lock.operation_id)
                freed += 1
        return freed

    async def _close_unfinished_incidents(self) -> None:
        """An incident whose creation never finished (no thread) is closed as failed."""
        for incident in await self._store.incidents(open_only=False):
            age = (datetime.now(UTC) - parse_iso(incident.created_at)).total_seconds()
            if incident.status == "opening" and age > 60:
                await self._store.apply(Change.of(UpdateIncident(incident.id, {"status": "failed"})))

    async def wait_for_orphans(self) -> None:
        """Wait until every adopted orphan has ended (tests, graceful stop)."""
        if self._watchers:
            await asyncio.wait(list(self._watchers))

    def cancel(self) -> None:
        """Stop watching orphans (the next start picks them up again)."""
        for task in list(self._watchers):
            task.cancel()


def _on_this_host(holder: str | None) -> bool:
    identity = ProcessIdentity.parse(holder) if holder else None
    return identity is not None and identity.host == THIS_PROCESS.host


def _end_processes(orphans: list[ProcessIdentity]) -> None:
    """SIGTERM, a grace period, then SIGKILL for whatever still runs (blocking: call in a thread)."""
    import time

    terminate(orphans, signal.SIGTERM)
    deadline = time.monotonic() + END_GRACE_SECONDS
    while time.monotonic() < deadline and any(p.alive() for p in orphans):
        time.sleep(0.1)
    terminate(orphans, signal.SIGKILL)
