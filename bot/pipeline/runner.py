"""Running an accepted operation: re-check approvers, call the provider, health-check, record the outcome.

The operation holds its lock from acceptance; the outcome, the deploy history, the lock release,
the audit row and the posts into open incident threads are one store change. A provider process
is recorded as soon as it starts, so a crash cannot lose track of it; the lock is released only
once the provider call has returned (a command provider waits for its process group to end).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.config import OpscordConfig
from bot.errors import OpscordError, ValidationFailed
from bot.pipeline import messages, quorum, states
from bot.pipeline.access import Access
from bot.pipeline.entries import operation_entry
from bot.pipeline.health_gate import HealthGate, IncidentOpener
from bot.pipeline.messages import Progress
from bot.pipeline.notices import requester_notice
from bot.pipeline.plans import Plans
from bot.pipeline.types import Actor
from bot.processes import THIS_PROCESS, ProcessIdentity
from bot.providers import ProviderRegistry
from bot.store import Change, Decision, Operation, Store
from bot.store.changes import (
    Announce,
    Append,
    FinishDeploy,
    FreeLock,
    StartDeploy,
    StartExecution,
    Step,
    UpdateOperation,
)
from bot.times import now_iso
from integrations.base import HealthStatus, OperationRequest, OperationResult
from integrations.errors import IntegrationError
from integrations.progress import on_link, on_spawn

log = logging.getLogger("bot.pipeline")
OPERATION_TASK_PREFIX = "operation-"


class Members(Protocol):
    """Looks up a person's current roles (Discord's guild, or the CLI fallback's config)."""

    async def actor(self, member_id: str) -> Actor | None:
        """The member as they are now, or None when they are gone."""


class Runner:
    """Executes operations in background tasks; `drain` stops them for a graceful shutdown."""

    def __init__(self, config: OpscordConfig, store: Store, access: Access, providers: ProviderRegistry, *,
                 members: Members, changed: asyncio.Event, plans: Plans,
                 incidents: IncidentOpener | None = None) -> None:
        self._config = config
        self._plans = plans
        self._store = store
        self._access = access
        self._providers = providers
        self._members = members
        self._changed = changed
        self.timeout = config.operations.timeout_minutes * 60.0
        self._tasks: dict[str, asyncio.Task[Operation | None]] = {}
        self._provider_calls: dict[str, asyncio.Task[tuple[bool, str]]] = {}
        self._delivered: dict[str, OperationResult] = {}
        """What each provider reported, kept for the outcome (the commit time, the health gate)."""
        self._stopping = False
        self.gate = HealthGate(config, store, providers, start_run=self.start, changed=changed, incidents=incidents)

    @property
    def active(self) -> set[str]:
        """The operations this process is executing now."""
        return set(self._tasks)

    def start(self, op_id: str) -> asyncio.Task[Operation | None]:
        """Run an approved operation in the background (once: a second start returns the same task)."""
        if op_id in self._tasks:
            return self._tasks[op_id]
        task = asyncio.create_task(self._execute_logged(op_id), name=f"{OPERATION_TASK_PREFIX}{op_id}")
        self._tasks[op_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(op_id, None))
        return task

    async def _execute_logged(self, op_id: str) -> Operation | None:
        try:
            return await self.execute(op_id)
        except Exception:  # a background task: nobody else would see it
            log.exception("operation %s stopped on an unexpected error; it is reported at the next start", op_id)
            return None

    async def execute(self, op_id: str) -> Operation | None:
        """Run the operation through to its recorded outcome (returns it as stored)."""
        op, decisions = await self._store.operation_and_decisions(op_id)
        if op is None or op.status != "approved":
            return op
        approved_by = ", ".join(f"@{d.approver_name}" for d in decisions if d.decision == "approve") or None
        problem = await self._recheck_approvers(op, decisions)
        if problem is not None:
            await self._finish(op, "approved", "failed", messages.failed(op, problem), approved_by=approved_by,
                               error=problem)
            return await self._store.operation(op.id)
        void = await self._plans.recheck(op)  # what the approvers saw must still be what runs
        if void is not None:
            await self._finish(op, "approved", "failed", messages.void(op, void), approved_by=approved_by,
                               error=void, result="void")
            return await self._store.operation(op.id)
        deploys = op.action in ("deploy", "rollback")
        started = now_iso()
        applied = await self._store.apply(Change.of(
            states.move(op.id, ("approved",), "running", started_at=started,
                        progress=Progress("provider", started).dump()),
            StartDeploy(op) if deploys else None,
            StartExecution(op.id, str(THIS_PROCESS))))  # exactly once: one provider call per attempt
        if not applied.ok:
            return await self._store.operation(op.id)
        self._changed.set()
        recorded: list[asyncio.Task[object]] = []
        call = asyncio.create_task(self._call_with_tracking(op, recorded), name=f"provider-{op.id}")
        self._provider_calls[op.id] = call
        try:
            ok, text = await call
            result, status = ("success", "succeeded") if ok else ("failed", "failed")
        except asyncio.CancelledError:
            if asyncio.current_task() is not None and asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise  # this task itself is being cancelled: the next start reports it interrupted
            text, result, status = messages.stopped_by_shutdown(op), "interrupted", "interrupted"
        finally:
            self._provider_calls.pop(op.id, None)
            for task in recorded:  # the provider process is on record before the outcome is
                with contextlib.suppress(Exception):
                    await task
        error = None if result == "success" else text
        await self._finish(op, "running", status, text, approved_by=approved_by, error=error, result=result,
                           delivered=self._delivered.pop(op.id, None))
        return await self._store.operation(op.id)

    async def _call_with_tracking(self, op: Operation, recorded: list[asyncio.Task[object]]) -> tuple[bool, str]:
        progress = Progress.parse((await self._store.operation(op.id) or op).progress)

        def spawned(pid: int) -> None:
            identity = str(ProcessIdentity.of(pid))
            recorded.append(asyncio.ensure_future(
                self._store.apply(Change.of(UpdateOperation(op.id, {"provider_process": identity})))))

        def linked(url: str) -> None:
            nonlocal progress
            progress = dataclasses.replace(progress, url=url)
            recorded.append(asyncio.ensure_future(self._show_progress(op, progress)))

        async def step(name: str) -> None:
            nonlocal progress
            progress = dataclasses.replace(progress, step=name, since=now_iso())
            await self._show_progress(op, progress)

        spawn_token, link_token = on_spawn.set(spawned), on_link.set(linked)
        try:
            return await self._run_provider(op, step)
        finally:
            on_spawn.reset(spawn_token)
            on_link.reset(link_token)

    async def _show_progress(self, op: Operation, progress: Progress) -> None:
        """Record where the run is; its message shows it at the next sync."""
        await self._store.apply(Change.of(UpdateOperation(op.id, {"progress": progress.dump()}, touch=True)))
        self._changed.set()

    async def _finish(self, op: Operation, from_status: str, status: str, text: str, *, approved_by: str | None,
                      error: str | None, result: str | None = None, delivered: OperationResult | None = None) -> None:
        """The outcome, history, lock release, audit row, incident posts and the health gate's watch: one change."""
        threads = [i.thread_id for i in await self._store.incidents(open_only=True)
                   if i.service == op.service and i.thread_id]
        watch, gate_line = self.gate.opening(op, status, delivered)
        text += gate_line
        committed = delivered.details.get("committed_at") if delivered is not None else None
        _, decisions = await self._store.operation_and_decisions(op.id)
        told = requester_notice(self._config, dataclasses.replace(op, status=status, outcome=text), decisions)
        steps: list[Step] = [
            states.move(op.id, (from_status,), status, finished_at=now_iso(), outcome=text, provider_process=None),
            FinishDeploy(op.id, status, committed_at=committed if isinstance(committed, str) else None)
            if op.action in ("deploy", "rollback") else None,  # type: ignore[list-item]
            FreeLock(op.id),
            Append(operation_entry(op, result or status, approved_by=approved_by, error=error)),
            *(Announce(messages.in_incident(op, text), target=thread) for thread in threads),
            told,  # type: ignore[list-item]
            self.gate.step(watch),  # type: ignore[list-item]
        ]
        applied = await self._store.apply(Change.of(*steps))
        if applied.ok and watch is not None:
            self.gate.start(watch)
        self._changed.set()

    async def _recheck_approvers(self, op: Operation, decisions: list[Decision]) -> str | None:
        """Approvals count only while their givers still hold roles that fill every slot (one person, one slot)."""
        if not op.approvals_required:
            return None
        now: list[tuple[str, frozenset[str]]] = []
        for decision in decisions:
            if decision.decision != "approve":
                continue
            member = await self._members.actor(decision.approver_id)
            if member is not None:
                now.append((decision.approver_id, frozenset(self._access.capabilities(member))))
        slots = quorum.slots_of(op)
        return messages.APPROVAL_VOID if len(quorum.assign(slots, now)) < len(slots) else None

    async def _run_provider(self, op: Operation, step: Callable[[str], Awaitable[None]]) -> tuple[bool, str]:
        request = OperationRequest(
            request_id=op.id, action=op.action,  # type: ignore[arg-type]
            service=op.service, environment=op.environment, version=op.version, replicas=op.replicas,
            previous_version=op.previous_version, requester=op.requester_name)
        try:
            async with asyncio.timeout(self.timeout):
                result = await self._call(op, request)
            self._delivered[op.id] = result
        except TimeoutError:
            return False, messages.timed_out(op, self.timeout)
        except (IntegrationError, OpscordError) as exc:
            return False, messages.failed(op, str(exc))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("provider crashed running %s", op.id)
            return False, messages.provider_crashed(op)
        if not result.ok:
            return False, messages.provider_failed(op, result.summary, result.url)
        if self._providers.health_checker(op.service) is not None:
            await step("health")
        health = await self._health(op)
        await self._annotate(op, health)
        text = messages.completed(op, health, result.url, self._dashboard(op))
        return health is None or health[0] is not False, text

    async def _call(self, op: Operation, request: OperationRequest) -> OperationResult:
        if op.action == "deploy":
            return await self._providers.deployer(op.service).deploy(request)
        if op.action == "rollback":
            return await self._providers.deployer(op.service).rollback(request)
        if op.action == "scale":
            scaler = self._providers.scaler(op.service)
            if scaler is None:
                raise ValidationFailed(f"{op.service} has no provider configured that can scale.")
            return await scaler.scale(request)
        return await self._providers.migrator(op.service).migrate(request)

    async def _health(self, op: Operation) -> tuple[bool | None, str] | None:
        """(healthy, sentence) from the monitor or the provider's own check; None when nothing can tell."""
        try:
            checker = self._providers.health_checker(op.service)
            if checker is None:
                return None
            report = await checker.check(op.service, op.environment)
        except IntegrationError as exc:
            return False, str(exc)
        if report.status is HealthStatus.UNKNOWN:
            return None, report.summary
        return report.status is HealthStatus.HEALTHY, report.summary

    def _dashboard(self, op: Operation) -> str | None:
        svc = self._config.service(op.service)
        if svc is not None and svc.dashboard_url:
            return svc.dashboard_url
        try:
            grafana = self._providers.grafana(op.service)
        except IntegrationError:
            return None
        return grafana.dashboard_url({"service": op.service, "environment": op.environment}) if grafana else None

    async def _annotate(self, op: Operation, health: tuple[bool | None, str] | None) -> None:
        """A Grafana annotation for deploys and rollbacks; failing to annotate never fails the operation."""
        if op.action not in ("deploy", "rollback"):
            return
        try:
            grafana = self._providers.grafana(op.service)
            if grafana is not None:
                state = " (health check failed)" if health is not None and health[0] is False else ""
                await grafana.annotate_deploy(op.service, op.environment, f"{op.action} {op.service} {op.version} "
                                                                          f"by @{op.requester_name}{state} [{op.id}]")
        except IntegrationError as exc:
            log.warning("could not annotate %s in Grafana: %s", op.id, exc)

    async def wait(self, op_id: str) -> Operation | None:
        """Wait for a started operation to finish (the CLI fallback runs it in the foreground)."""
        task = self._tasks.get(op_id)
        if task is not None:
            return await task
        return await self._store.operation(op_id)

    async def abort(self) -> None:
        """Stop every execution now: providers are stopped and their operations recorded interrupted."""
        self._stopping = True
        await self.gate.stop()
        for call in list(self._provider_calls.values()):
            call.cancel()
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        for task in tasks:
            task.cancel()  # still not done: the next start reports it interrupted
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def drain(self, grace: float) -> int:
        """Let running operations finish for `grace` seconds, then stop their providers; returns how many were.

        Operations that start while it waits (a click that was already being handled) are waited for too.
        """
        self._stopping = True
        deadline = asyncio.get_running_loop().time() + grace
        while self._tasks and (left := deadline - asyncio.get_running_loop().time()) > 0:
            await asyncio.wait(list(self._tasks.values()), timeout=left)
        stopped = len(self._provider_calls)
        for call in list(self._provider_calls.values()):
            call.cancel()
        remaining = [t for t in self._tasks.values() if not t.done()]
        if remaining:
            await asyncio.wait(remaining, timeout=15)
        return stopped
