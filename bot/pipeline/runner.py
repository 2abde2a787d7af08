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
from dataclasses import dataclass
from typing import Protocol

from bot.config import OpscordConfig
from bot.errors import OpscordError, ValidationFailed
from bot.pipeline import messages, quorum, states
from bot.pipeline.access import Access
from bot.pipeline.entries import operation_entry
from bot.pipeline.first_answers import FirstAnswers
from bot.pipeline.health_gate import HealthGate, IncidentOpener
from bot.pipeline.messages import Progress
from bot.pipeline.notices import requester_notice
from bot.pipeline.plans import Plans
from bot.pipeline.provider_request import provider_request
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
QUEUE_REFRESH_SECONDS = 1.0
"""How often queued operations' messages are brought up to their new positions (edits are rate-limited)."""
NEAR_FRONT = 10
"""Queued cards this close to the front show every move; further back, each once its place has halved."""


def worth_showing(shown: int | None, position: int) -> bool:
    """Whether a queued card is edited to show its new position.

    Near the front, every move; further back, once the position has halved since the card last showed one —
    so a queue of a thousand costs each card about ten edits on its way up, not an edit a second (every edit
    is a store change and a Discord call, rate-limited per channel, while the people who typed the commands
    behind it are still waiting for their first answers).
    """
    if shown == position:
        return False
    return shown is None or position <= NEAR_FRONT or position <= shown // 2


@dataclass
class _Waiting:
    """An operation in the queue: resolved when its turn comes, since when it waits, the position it shows."""

    turn: asyncio.Future[None]
    since: str
    shown: int | None


class Members(Protocol):
    """Looks up a person's current roles (Discord's guild, or the CLI fallback's config)."""

    async def actor(self, member_id: str) -> Actor | None:
        """The member as they are now, or None when they are gone."""


class Runner:
    """Executes operations in background tasks; `drain` stops them for a graceful shutdown."""

    def __init__(self, config: OpscordConfig, store: Store, access: Access, providers: ProviderRegistry, *,
                 members: Members, changed: asyncio.Event, plans: Plans,
                 incidents: IncidentOpener | None = None, first_answers: FirstAnswers | None = None) -> None:
        self._config = config
        self._first_answers = first_answers or FirstAnswers()
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
        self.limit = config.operations.max_concurrent
        """Operations executed at once; the rest wait in `_waiting`, first come first served."""
        self._slots: set[str] = set()
        self._waiting: dict[str, _Waiting] = {}
        self._refresh: asyncio.Task[None] | None = None

    @property
    def active(self) -> set[str]:
        """The operations this process is executing now."""
        return set(self._tasks)

    @property
    def queued(self) -> list[str]:
        """Operations waiting for an execution slot, first in line first."""
        return list(self._waiting)

    def reserve(self, op_id: str, *, shown: bool = True) -> int | None:
        """Take an execution slot for the operation now (None), or a place in the queue (its position).

        The caller shows the position on the operation's message and stores it with `Progress.queued`
        (unless `shown` is false: then the queue's next refresh does);
        `start` then runs it once its turn comes. A reservation never started is let go with `release`.
        """
        if op_id in self._slots:
            return None
        if op_id in self._waiting:
            return list(self._waiting).index(op_id) + 1
        if len(self._slots) < self.limit and not self._waiting:
            self._slots.add(op_id)
            return None
        position = len(self._waiting) + 1
        self._waiting[op_id] = _Waiting(asyncio.get_running_loop().create_future(), now_iso(),
                                        position if shown else None)
        return position

    def release(self, op_id: str) -> None:
        """Give up the operation's slot or place in the queue; the next in line gets the slot."""
        self._slots.discard(op_id)
        if self._waiting.pop(op_id, None) is not None:
            self._refresh_soon()
        while self._waiting and len(self._slots) < self.limit and not self._stopping:
            next_id, waiting = next(iter(self._waiting.items()))
            del self._waiting[next_id]
            self._slots.add(next_id)
            if not waiting.turn.done():
                waiting.turn.set_result(None)
            self._refresh_soon()

    def start(self, op_id: str) -> asyncio.Task[Operation | None]:
        """Run an approved operation in the background (once: a second start returns the same task).

        It runs as soon as one of `limit` execution slots is free; until then it waits in the queue.
        """
        if op_id in self._tasks:
            return self._tasks[op_id]
        position = self.reserve(op_id, shown=False)
        task = asyncio.create_task(self._execute_logged(op_id), name=f"{OPERATION_TASK_PREFIX}{op_id}")
        self._tasks[op_id] = task
        if position is not None and self._waiting[op_id].shown != position:
            self._refresh_soon()
        task.add_done_callback(lambda _: self._tasks.pop(op_id, None))
        return task

    async def _execute_logged(self, op_id: str) -> Operation | None:
        try:
            return await self.execute(op_id)
        except Exception:  # a background task: nobody else would see it
            log.exception("operation %s stopped on an unexpected error; it is reported at the next start", op_id)
            return None
        finally:
            self.release(op_id)

    async def _turn(self, op_id: str) -> bool:
        """Wait until the operation holds an execution slot; False when Opscord stops first."""
        if self._stopping:
            return False
        if op_id not in self._slots and op_id not in self._waiting and self.reserve(op_id, shown=False):
            self._refresh_soon()
        waiting = self._waiting.get(op_id)
        if waiting is not None:
            await asyncio.shield(waiting.turn)
        return op_id in self._slots and not self._stopping

    def _dismiss_queue(self) -> None:
        """Stopping: nothing waiting gets a slot (its operation is recorded as never started)."""
        for waiting in self._waiting.values():
            if not waiting.turn.done():
                waiting.turn.set_result(None)
        self._waiting.clear()

    def _refresh_soon(self) -> None:
        """Have the queued messages show their new positions (at most every `QUEUE_REFRESH_SECONDS`)."""
        if self._waiting and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self._refresh_positions(), name="queue-positions")

    async def _refresh_positions(self) -> None:
        await asyncio.sleep(QUEUE_REFRESH_SECONDS)
        await self._first_answers.after_them()
        moved = []
        for position, (op_id, waiting) in enumerate(list(self._waiting.items()), start=1):
            # not yet started: its first reply is on its way with the position it reserved (stored with the
            # message); moved since, it is brought up to date by the next refresh
            if worth_showing(waiting.shown, position) and op_id in self._tasks:
                waiting.shown = position
                moved.append((op_id, Progress.queued(position, waiting.since)))
        # each its own change: one that started meanwhile is no longer approved, and only it conflicts
        await asyncio.gather(*(self._store.apply(Change.of(states.keep(op_id, "approved", progress=progress.dump())))
                               for op_id, progress in moved))
        if moved:
            self._changed.set()

    async def execute(self, op_id: str) -> Operation | None:
        """Run the operation through to its recorded outcome (returns it as stored)."""
        await self._first_answers.after_them()
        op, decisions = await self._store.operation_and_decisions(op_id)
        if op is None or op.status != "approved":
            return op
        if op_id not in self._slots:
            if not await self._turn(op_id):
                return op  # never started: `Pipeline.stop` records it
            op, decisions = await self._store.operation_and_decisions(op_id)
            if op is None or op.status != "approved":
                return op
        approved_by = ", ".join(f"@{d.approver_name}" for d in decisions if d.decision == "approve") or None
        problem = await self._recheck_approvers(op, decisions)
        if problem is not None:
            return await self._finish(op, decisions, "approved", "failed", messages.failed(op, problem),
                                      approved_by=approved_by, error=problem)
        void = await self._plans.recheck(op)  # what the approvers saw must still be what runs
        if void is not None:
            return await self._finish(op, decisions, "approved", "failed", messages.void(op, void),
                                      approved_by=approved_by, error=void, result="void")
        deploys = op.action in ("deploy", "rollback")
        started = now_iso()
        progress = Progress("provider", started)
        applied = await self._store.apply(Change.of(
            states.move(op.id, ("approved",), "running", started_at=started, progress=progress.dump()),
            StartDeploy(op) if deploys else None,
            StartExecution(op.id, str(THIS_PROCESS))))  # exactly once: one provider call per attempt
        if not applied.ok:
            return await self._store.operation(op.id)
        self._changed.set()
        recorded: list[asyncio.Task[object]] = []
        call = asyncio.create_task(self._call_with_tracking(op, progress, recorded), name=f"provider-{op.id}")
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
        return await self._finish(op, decisions, "running", status, text, approved_by=approved_by, error=error,
                                  result=result, delivered=self._delivered.pop(op.id, None))

    async def _call_with_tracking(self, op: Operation, progress: Progress,
                                  recorded: list[asyncio.Task[object]]) -> tuple[bool, str]:

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

    async def _finish(self, op: Operation, decisions: list[Decision], from_status: str, status: str, text: str, *,
                      approved_by: str | None, error: str | None, result: str | None = None,
                      delivered: OperationResult | None = None) -> Operation | None:
        """The outcome, history, lock release, audit row, incident posts and the health gate's watch: one change.

        `decisions` are the ones it ran with (an approved operation takes no more). Returns the operation after it.
        """
        threads = [i.thread_id for i in await self._store.incidents(open_only=True)
                   if i.service == op.service and i.thread_id]
        watch, gate_line = self.gate.opening(op, status, delivered)
        text += gate_line
        committed = delivered.details.get("committed_at") if delivered is not None else None
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
        return applied.operation if applied.ok and applied.operation else await self._store.operation(op.id)

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
        request = provider_request(op, op.action)  # type: ignore[arg-type]
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
        self._dismiss_queue()
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

        Operations that start while it waits (a click that was already being handled) are waited for too;
        queued ones never start (`Pipeline.stop` records them).
        """
        self._stopping = True
        self._dismiss_queue()
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
