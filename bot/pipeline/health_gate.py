"""The health gate: after a deploy, watch the service's health for a while, and act when it turns unhealthy.

`[[health_gates]]` rows (first match on service and environment) say what happens when a deploy's
target reads unhealthy (degraded or down) within `watch_minutes` of the deploy — checked every
`interval_seconds` through the same monitor (or provider check) as the deploy's own health check:

- `rollback`: Opscord rolls back to the version before the deploy, through the same pipeline (its
  lock, runner, history and audit), at once — no approval or confirmation, as the seed allows for
  rollbacks — filed under `@opscord` on behalf of the deploy's requester;
- `alert`: it only tells;
- `nothing`: deploys there are not watched.

Either way it is told in the open incident of the service (or one is opened, `open_incident`), and
the requester is pinged in a reply to the deploy's message; the deploy's card shows the gate's
verdict. A watch ends early when another operation takes the target over. A watch is on record
from the moment its deploy's outcome is (one store change), so a crash cannot lose it: the next
start ends it as interrupted and says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.config import HealthGateRow, OpscordConfig
from bot.pipeline import messages
from bot.pipeline.entries import operation_entry
from bot.pipeline.notices import pings_on
from bot.processes import THIS_PROCESS, holder_alive
from bot.providers import ProviderRegistry
from bot.store import Applied, Change, HealthWatch, Incident, Operation, Store
from bot.store.changes import Announce, Append, CreateOperation, EndWatch, StartWatch, Step, TakeLock, UpdateOperation
from bot.times import iso, now_iso, parse_iso
from integrations.base import HealthStatus, OperationResult
from integrations.errors import IntegrationError

log = logging.getLogger("bot.pipeline")
CHECK_SECONDS = 10.0
"""The most one health check may take before it counts as unknown."""
WATCHING = "🩺 Health gate:"


class IncidentOpener(Protocol):
    """Opens an incident of a service on Opscord's behalf (bot.incidents)."""

    async def open_for_health_gate(self, service: str, title: str, severity: str) -> Incident | None:
        """The incident opened (announced, on-call pinged), or None when it could not be."""


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def _with_verdict(outcome: str | None, line: str) -> str:
    """The deploy's outcome with the gate's line replaced by its verdict."""
    kept = [row for row in (outcome or "").splitlines() if not row.startswith(WATCHING)]
    return "\n".join([*kept, line])


class HealthGate:
    """Opens watches with deploys' outcomes, runs them, and acts on what they see."""

    def __init__(self, config: OpscordConfig, store: Store, providers: ProviderRegistry, *,
                 start_run: Callable[[str], object], changed: asyncio.Event,
                 incidents: IncidentOpener | None = None) -> None:
        self._config = config
        self._store = store
        self._providers = providers
        self._start_run = start_run
        self._changed = changed
        self._incidents = incidents
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def watching(self) -> set[str]:
        """The deploys this process watches now."""
        return set(self._tasks)

    def opening(self, op: Operation, status: str, delivered: OperationResult | None
                ) -> tuple[HealthWatch | None, str]:
        """The watch a finished deploy starts (stored with its outcome) and the line its card gains."""
        gate = self._config.health_gate(op.service, op.environment)
        if op.action != "deploy" or delivered is None or not delivered.ok or gate is None \
                or gate.on_unhealthy == "nothing" or status == "interrupted":
            return None, ""
        if self._providers.health_checker(op.service) is None:
            return None, f"\n{WATCHING} not watching: {op.service} has no health check or monitor configured."
        rolls_back = gate.on_unhealthy == "rollback" and op.previous_version
        then = (f"Opscord rolls back to {op.previous_version}" if rolls_back
                else f"Opscord alerts {messages.who(op.requester_name)}")
        started = datetime.now(UTC)
        watch = HealthWatch(op_id=op.id, service=op.service, environment=op.environment,
                            on_unhealthy=gate.on_unhealthy, started_at=iso(started),
                            until=iso(started + timedelta(minutes=gate.watch_minutes)), status="watching",
                            holder=str(THIS_PROCESS))
        return watch, (f"\n{WATCHING} watching for {_minutes(gate.watch_minutes * 60)} (until "
                       f"<t:{int(parse_iso(watch.until).timestamp())}:t>); if it turns unhealthy, {then}.")

    @staticmethod
    def step(watch: HealthWatch | None) -> Step | None:
        """The store step that puts a watch on record."""
        return StartWatch(watch) if watch is not None else None

    def start(self, watch: HealthWatch) -> None:
        """Watch in the background (once per deploy)."""
        if watch.op_id in self._tasks:
            return
        task = asyncio.create_task(self._watch_logged(watch), name=f"health-gate-{watch.op_id}")
        self._tasks[watch.op_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(watch.op_id, None))

    async def _watch_logged(self, watch: HealthWatch) -> None:
        try:
            await self._watch(watch)
        except asyncio.CancelledError:
            raise
        except Exception:  # a background task: nobody else would see it
            log.exception("the health gate of %s stopped on an unexpected error", watch.op_id)
            await self._end(watch, "interrupted", f"{WATCHING} stopped watching on an unexpected error (logged); "
                                                  f"check /status {watch.service}.")

    async def _watch(self, watch: HealthWatch) -> None:
        gate = self._config.health_gate(watch.service, watch.environment) or HealthGateRow()
        until = parse_iso(watch.until)
        checks = unknown = 0
        while True:
            taken = await self._taken_over(watch)
            if taken is not None:
                await self._end(watch, "superseded", f"{WATCHING} stopped watching: {taken}.")
                return
            healthy, summary = await self._check(watch)
            checks += 1
            unknown += healthy is None
            if healthy is False:
                await self._unhealthy(watch, gate, summary)
                return
            left = (until - datetime.now(UTC)).total_seconds()
            if left <= 0:
                note = f" ({unknown} of {checks} checks could not tell)" if unknown else ""
                await self._end(watch, "healthy", f"{WATCHING} healthy for {_minutes(gate.watch_minutes * 60)} "
                                                  f"({checks} checks){note}.")
                return
            await asyncio.sleep(min(gate.interval_seconds, left))

    async def _check(self, watch: HealthWatch) -> tuple[bool | None, str]:
        """(healthy, sentence): False for degraded or down, None when nothing could tell."""
        checker = self._providers.health_checker(watch.service)
        if checker is None:
            return None, "no health check is configured"
        try:
            async with asyncio.timeout(CHECK_SECONDS):
                report = await checker.check(watch.service, watch.environment)
        except (IntegrationError, TimeoutError) as exc:
            return None, str(exc) or f"no answer within {CHECK_SECONDS:g} s"
        if report.status is HealthStatus.UNKNOWN:
            return None, report.summary
        return report.status is HealthStatus.HEALTHY, report.summary

    async def _taken_over(self, watch: HealthWatch) -> str | None:
        """Why the watch no longer speaks for the target: another operation holds it, or deployed since."""
        facts = await self._store.target(watch.service, watch.environment)
        if facts.lock is not None and facts.lock.operation_id != watch.op_id:
            return f"@{facts.lock.holder_name} runs `{facts.lock.command or facts.lock.operation_id}` there now"
        latest = await self._store.deploy_history(watch.service, watch.environment, limit=1)
        if latest and latest[0].operation_id != watch.op_id:
            return f"`{latest[0].operation_id}` ({latest[0].kind} of {latest[0].version}) came after it"
        return None

    async def _end(self, watch: HealthWatch, status: str, line: str, *extra: Step | None) -> Applied | None:
        """End the watch with its verdict on the deploy's card and an audit row (None: its deploy is gone)."""
        op = await self._store.operation(watch.op_id)
        if op is None:
            return None
        applied = await self._store.apply(Change.of(
            EndWatch(watch.op_id, status, line), UpdateOperation(op.id, {"outcome": _with_verdict(op.outcome, line)},
                                                                 touch=True),
            Append(operation_entry(op, f"health_{status}", health_gate=line.removeprefix(WATCHING).strip())),
            *extra))
        self._changed.set()
        return applied

    async def _unhealthy(self, watch: HealthWatch, gate: HealthGateRow, summary: str) -> None:
        op = await self._store.operation(watch.op_id)
        if op is None:
            return
        after = _minutes((datetime.now(UTC) - parse_iso(watch.started_at)).total_seconds())
        threads = [i.thread_id for i in await self._store.incidents(open_only=True)
                   if i.service == op.service and i.thread_id]
        why = "on_unhealthy = alert"
        if watch.on_unhealthy == "rollback":
            why = "no earlier version is known to roll back to"
            if op.previous_version:
                why = await self._roll_back(watch, op, after, summary, threads) or ""
        if why:
            line = f"{WATCHING} unhealthy after {after} ({summary}); not rolled back ({why})."
            told = (f"your deploy — {messages.subject(op)} — turned unhealthy after {after} ({summary}). Opscord "
                    f"did not roll it back ({why}): check {op.service} in {op.environment} now.")
            await self._end(watch, "unhealthy", line, self._tell_requester(op, told),
                            *(Announce(self._incident_post(op, line), target=t) for t in threads))
        if not threads and gate.open_incident and self._incidents is not None:
            incident = await self._incidents.open_for_health_gate(
                op.service, f"{op.service} unhealthy after deploying {op.version} to {op.environment}", gate.severity)
            if incident is not None and incident.thread_id:
                now = await self._store.operation(op.id)
                verdict = next((row for row in ((now.outcome if now else "") or "").splitlines()
                                if row.startswith(WATCHING)), summary)
                await self._store.apply(Change.of(Announce(self._incident_post(op, verdict),
                                                           target=incident.thread_id)))
                self._changed.set()

    async def _roll_back(self, watch: HealthWatch, op: Operation, after: str, summary: str,
                         threads: list[str]) -> str | None:
        """Start the rollback; or why it could not be (the target is locked: then the gate alerts instead)."""
        rollback = Operation(
            id=f"op-{secrets.token_hex(5)}", action="rollback", policy_action="rollback", service=op.service,
            environment=op.environment, version=op.previous_version, previous_version=op.version, replicas=None,
            current_replicas=None, command=f"/rollback {op.service} {op.environment}", requester_id=op.requester_id,
            requester_name=op.requester_name, guild_id=op.guild_id, channel_id=op.message_channel_id or op.channel_id,
            channel_name=op.channel_name, approvals_required=0, approver_roles=(), confirm=False, status="approved",
            created_at=now_iso(), holder=str(THIS_PROCESS), revision=1, shown_revision=0, caused_by=op.id)
        line = (f"{WATCHING} unhealthy after {after} ({summary}) — rolling back to {op.previous_version}: "
                f"`{rollback.id}`.")
        told = (f"your deploy — {messages.subject(op)} — turned unhealthy after {after} ({summary}); Opscord is "
                f"rolling it back to {op.previous_version} (`{rollback.id}`).")
        ended = await self._end(watch, "unhealthy", line, CreateOperation(rollback),
                                TakeLock(op.service, op.environment, rollback.id, op.requester_name,
                                         str(THIS_PROCESS)),
                                Append(operation_entry(rollback, "started")), self._tell_requester(op, told),
                                *(Announce(self._incident_post(op, line), target=t) for t in threads))
        if ended is not None and ended.conflict is not None and ended.conflict.lock is not None:
            return f"the target is locked: {messages.locked(ended.conflict.lock)}"
        if ended is not None and ended.ok:
            self._start_run(rollback.id)
        return None

    def _tell_requester(self, op: Operation, text: str) -> Announce:
        """A reply to the deploy's message, pinging its requester (unless the environment pings nobody)."""
        return Announce(text, target=op.message_channel_id or op.channel_id,
                        ping_user=op.requester_id if pings_on(self._config, op.environment) else None,
                        reply_to=op.message_id)

    @staticmethod
    def _incident_post(op: Operation, line: str) -> str:
        return f"🩺 `{op.id}` — {messages.subject(op)} by {messages.who(op.requester_name)}:\n{line}"

    # --- restarts and stops ----------------------------------------------------------------------
    async def end_orphans(self) -> int:
        """After a start: end every watch whose process is gone (said on its card and in the deployments channel)."""
        ended = 0
        for watch in await self._store.watches("watching"):
            if watch.op_id in self._tasks or holder_alive(watch.holder):
                continue
            ended += bool(await self._interrupt(watch, "Opscord stopped while it watched"))
        return ended

    async def stop(self) -> None:
        """Stop watching (graceful stop or close): each watch of this process ends as interrupted, said so."""
        tasks = dict(self._tasks)
        for task in tasks.values():
            task.cancel()
        for task in tasks.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for watch in await self._store.watches("watching"):
            if watch.holder == str(THIS_PROCESS):
                await self._interrupt(watch, "Opscord was stopped")

    async def _interrupt(self, watch: HealthWatch, why: str) -> Applied | None:
        watched = _minutes(max(0.0, (datetime.now(UTC) - parse_iso(watch.started_at)).total_seconds()))
        window = _minutes((parse_iso(watch.until) - parse_iso(watch.started_at)).total_seconds())
        line = (f"⚡ {WATCHING.removeprefix('🩺 ')} ended after {watched} of {window}: {why}; check "
                f"/status {watch.service} yourself.")
        op = await self._store.operation(watch.op_id)
        post = Announce(f"⚡ The health gate of `{watch.op_id}`" + (f" ({messages.subject(op)} by "
                                                                    f"{messages.who(op.requester_name)})" if op else "")
                        + f" ended after {watched} of {window}: {why}. Check /status {watch.service}.")
        return await self._end(watch, "interrupted", line, post)
