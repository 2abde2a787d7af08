"""The operation pipeline: the one place every mutating command goes through.

validate → authorize → audit "requested" (when it must wait) → policy → approval or confirmation
→ lock → provider → health check → audit outcome → reply. Cogs only parse input and render output.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.config import ServiceConfig
from bot.decisions import ApprovalDecisions
from bot.errors import LockHeld, OpscordError, PermissionDenied, ValidationFailed
from bot.operation_base import log, since
from bot.operation_types import (
    Actor,
    ActorRole,
    ClickOutcome,
    Notifier,
    OpAction,
    OperationInput,
    PipelineRefusal,
    Submitted,
)
from bot.operations import RUNNER, Operation, iso, now_iso, runner_alive
from bot.policy import PolicyEngine
from bot.render import VERBS
from bot.tasks import OPERATION_TASK_PREFIX
from integrations.base import HealthStatus, OperationRequest, OperationResult
from integrations.errors import IntegrationError

__all__ = ["Actor", "ActorRole", "ClickOutcome", "Notifier", "OpAction", "OperationInput", "Pipeline",
           "PipelineRefusal", "Submitted"]

SAFE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
CONFIRM_MINUTES = 2
REPLICA_READ_SECONDS = 1.5  # Discord allows 3 s for the first reply to a command


class Pipeline(ApprovalDecisions):
    """Validates, authorizes, applies policy, locks, executes, health-checks and audits operations."""

    @property
    def policy(self) -> PolicyEngine:
        """The policy engine over the configured rows (the seed's matrix when there are none)."""
        return PolicyEngine(self.config.policy, self.config.freezes)

    # --- submit -----------------------------------------------------------------------------------
    async def submit(self, inp: OperationInput, actor: Actor) -> Submitted:
        """Validate, authorize and record a request; say whether it waits or runs."""
        try:
            return await self._submit(inp, actor)
        except OpscordError as exc:
            await self._audit_input(inp, actor, exc.result, error=exc.message)
            raise PipelineRefusal(exc) from None
        except IntegrationError as exc:  # e.g. a provider whose secret variable is not set
            await self._audit_input(inp, actor, "error", error=str(exc))
            raise PipelineRefusal(OpscordError(f"{exc}.".replace("..", "."))) from None

    async def _submit(self, inp: OperationInput, actor: Actor) -> Submitted:
        svc = self._validate(inp)
        self._authorize(inp, actor)
        previous_version = current_replicas = None
        version = inp.version
        policy_action: str = inp.action
        if inp.action == "deploy":
            previous_version = await self.store.current_version(inp.service, inp.environment)
        elif inp.action == "rollback":
            previous_version, version = await self.store.rollback_target(inp.service, inp.environment)
            if version is None:
                raise ValidationFailed(f"No previous successful deploy of {inp.service} in {inp.environment} "
                                       f"to roll back to.")
        elif inp.action == "scale":
            current_replicas = await self._current_replicas(inp.service, inp.environment)
            # Unknown current count: treat as a scale down, the safer reading.
            up = current_replicas is not None and inp.replicas is not None and inp.replicas >= current_replicas
            policy_action = "scale_up" if up else "scale_down"
        self.providers.for_action(svc.name, inp.action)  # a clear refusal when nothing can run it
        await self._refuse_if_locked(inp.service, inp.environment)
        req = self.policy.decide(policy_action, inp.environment, inp.service)
        state: Literal["approval", "confirmation", "run"]
        if req.approvals:
            status, state = "pending_approval", "approval"
        elif req.confirm:
            status, state = "pending_confirmation", "confirmation"
        else:
            status, state = "approved", "run"
        minutes = req.expiry_minutes if req.approvals else min(req.expiry_minutes, CONFIRM_MINUTES)
        created = datetime.now(UTC)
        op = Operation(
            id=f"op-{secrets.token_hex(5)}", action=inp.action, policy_action=policy_action, service=inp.service,
            environment=inp.environment, version=version, previous_version=previous_version,
            replicas=inp.replicas, current_replicas=current_replicas, command=inp.command,
            requester_id=actor.id, requester_name=actor.name, guild_id=inp.guild_id, channel_id=inp.channel_id,
            channel_name=inp.channel_name, approvals_required=req.approvals, approver_roles=req.approver_roles,
            confirm=req.confirm, status=status, created_at=now_iso(), runner=RUNNER if state == "run" else None,
            expires_at=iso(created + timedelta(minutes=minutes)) if state != "run" else None,
        )
        await self.store.create(op)
        if state != "run":
            await self._audit_op(op, "requested", needs=state)
        return Submitted(op, state)

    def _validate(self, inp: OperationInput) -> ServiceConfig:
        svc = self.config.service(inp.service)
        if svc is None:
            known = ", ".join(s.name for s in self.config.services)
            raise ValidationFailed(f"Unknown service {inp.service[:60]!r}. Known services: {known}.")
        if self.config.environment(inp.environment) is None or inp.environment not in svc.environments:
            raise ValidationFailed(f"{svc.name} is not deployed to {inp.environment[:40]!r}; its environments: "
                                   f"{', '.join(svc.environments)}.")
        if inp.action == "deploy":
            version = inp.version or ""
            if not SAFE_VERSION.fullmatch(version) or not svc.version_matches(version):
                raise ValidationFailed(f"Version {version[:64]!r} does not match {svc.name}'s version pattern "
                                       f"{svc.version_pattern} (for example v1.2.3).")
        if inp.action == "scale":
            low, high = svc.replicas.min, svc.replicas.max
            if inp.replicas is None or not low <= inp.replicas <= high:
                raise ValidationFailed(f"Replicas for {svc.name} must be between {low} and {high}; "
                                       f"got {inp.replicas}.")
        return svc

    def _authorize(self, inp: OperationInput, actor: Actor) -> None:
        if not self.authorizer.has(actor, "operator", inp.environment):
            raise PermissionDenied(f"You need the operator role for {inp.environment} to "
                                   f"{inp.action} {inp.service}.")
        allowed = self.config.channels.operations
        if allowed and inp.channel_name not in allowed and not any(
                str(ref) == str(inp.channel_id) for ref in allowed):
            names = ", ".join(f"#{c}" if isinstance(c, str) else str(c) for c in allowed)
            raise PermissionDenied(f"Operations run only in {names}.")

    async def _current_replicas(self, service: str, environment: str) -> int | None:
        """The live count (bounded: the user is waiting for the first reply), else the last /scale."""
        scaler = self.providers.scaler(service)
        if scaler is not None:
            try:
                async with asyncio.timeout(REPLICA_READ_SECONDS):
                    count = await scaler.current_replicas(service, environment)
            except (IntegrationError, TimeoutError) as exc:
                log.warning("could not read replicas of %s/%s: %s", service, environment,
                            exc or f"no answer within {REPLICA_READ_SECONDS} s")
                count = None
            if count is not None:
                return count
        return await self.store.last_scale(service, environment)

    async def _refuse_if_locked(self, service: str, environment: str) -> None:
        held = await self.store.lock_holder(service, environment)
        if held is not None:
            holder = await self.store.get(held.operation_id)
            what = f" ({holder.command})" if holder else ""
            raise LockHeld(f"{service} in {environment} is locked by @{held.holder_name}{what} since "
                           f"{held.since[:19].replace('T', ' ')} UTC; try again when it finishes.")

    # --- execution --------------------------------------------------------------------------------
    def start(self, op: Operation) -> asyncio.Task[None]:
        """Run an approved request in the background."""
        task = asyncio.create_task(self._execute_logged(op.id), name=f"{OPERATION_TASK_PREFIX}{op.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _execute_logged(self, op_id: str) -> None:
        try:
            await self.execute(op_id)
        except OpscordError as exc:
            log.warning("operation %s did not run: %s", op_id, exc)
        except Exception:  # a background task: nobody else would see it
            log.exception("operation %s stopped on an unexpected error; it is reported at the next start", op_id)

    async def abandon(self, op: Operation, reason: str) -> None:
        """A request whose first reply could not reach Discord never runs: close it and say why in the audit."""
        if await self.store.transition(op.id, ("approved", "pending_approval", "pending_confirmation"), "failed",
                                       finished_at=now_iso(), outcome=reason):
            await self._audit_op(op, "error", error=reason)

    async def execute(self, op_id: str) -> Operation:
        """Lock, run the provider, health-check, audit the outcome and show it."""
        op = await self.store.get(op_id)
        if op is None or op.status != "approved":
            raise ValidationFailed("This request is not approved.")
        approvers = await self._approvers(op.id)
        problem = await self._recheck_approvers(op, approvers)
        if problem is None:
            held = await self.store.acquire_lock(op.service, op.environment, op.id, op.requester_name)
            if held is not None:
                problem = (f"{op.service} in {op.environment} is locked by @{held.holder_name} since "
                           f"{held.since[:19].replace('T', ' ')} UTC")
        if problem is not None:
            await self.store.transition(op.id, ("approved",), "failed", finished_at=now_iso(), outcome=problem)
            await self._finish(op, "failed", f"❌ {VERBS[op.action]} failed: {problem}.", approvers, error=problem)
            return await self.store.get(op.id) or op
        await self.store.transition(op.id, ("approved",), "running", started_at=now_iso(), runner=RUNNER)
        if op.action in ("deploy", "rollback"):
            await self.store.start_deploy(op, op.action)
        try:
            ok, text = await self._run_provider(op)
        except asyncio.CancelledError:
            log.warning("operation %s was cancelled mid-run; it will be reported interrupted", op.id)
            raise
        status = "succeeded" if ok else "failed"
        await self.store.transition(op.id, ("running",), status, finished_at=now_iso(), outcome=text)
        if op.action in ("deploy", "rollback"):
            await self.store.finish_deploy(op.id, status)
        await self.store.release_lock(op.id)
        await self._finish(op, "success" if ok else "failed", text, approvers, error=None if ok else text)
        return await self.store.get(op.id) or op

    async def _recheck_approvers(self, op: Operation, approvers: list[str]) -> str | None:
        if not op.approvals_required or self.resolve_actor is None:
            return None
        valid = 0
        for decision in await self.store.decisions(op.id):
            if decision.decision != "approve":
                continue
            member = await self.resolve_actor(decision.approver_id)
            if member is not None and self.authorizer.has_any(member, op.approver_roles):
                valid += 1
        if valid < op.approvals_required:
            return "an approver no longer holds an approver role, so the approval is void"
        return None

    async def _run_provider(self, op: Operation) -> tuple[bool, str]:
        verb = VERBS[op.action]
        request = OperationRequest(
            request_id=op.id, action=op.action,  # type: ignore[arg-type]
            service=op.service, environment=op.environment, version=op.version, replicas=op.replicas,
            previous_version=op.previous_version, requester=op.requester_name)
        try:
            async with asyncio.timeout(self.operation_timeout):
                result = await self._call(op, request)
        except TimeoutError:
            return False, f"❌ {verb} failed: no result within {self.operation_timeout:.0f} s."
        except (IntegrationError, OpscordError) as exc:
            return False, f"❌ {verb} failed: {exc}"
        except Exception:
            log.exception("provider crashed running %s", op.id)
            return False, f"❌ {verb} failed: the provider crashed; the error was logged."
        if not result.ok:
            return False, f"❌ {verb} failed: {result.summary}" + _link(result)
        health = await self._health(op)
        await self._annotate(op, result, health)
        link = self._dashboard(op)
        dashboard = f"\nDashboard: <{link}>" if link else ""
        if health is None:
            return True, f"✅ {verb} complete. No health check is configured.{_link(result)}{dashboard}"
        ok, sentence = health
        if ok is None:
            return True, f"✅ {verb} complete. Health unknown: {sentence}{_link(result)}{dashboard}"
        if not ok:
            return False, f"❌ {verb} failed: health check failed — {sentence}{_link(result)}{dashboard}"
        return True, f"✅ {verb} complete. Health check passed.{_link(result)}{dashboard}"

    def _dashboard(self, op: Operation) -> str | None:
        svc = self.config.service(op.service)
        if svc is not None and svc.dashboard_url:
            return svc.dashboard_url
        try:
            grafana = self.providers.grafana(op.service)
        except IntegrationError:
            return None
        return grafana.dashboard_url({"service": op.service, "environment": op.environment}) if grafana else None

    async def _annotate(self, op: Operation, result: OperationResult,
                        health: tuple[bool | None, str] | None) -> None:
        """A Grafana annotation for deploys and rollbacks; failing to annotate never fails the operation."""
        if op.action not in ("deploy", "rollback"):
            return
        try:
            grafana = self.providers.grafana(op.service)
            if grafana is not None:
                state = " (health check failed)" if health is not None and health[0] is False else ""
                await grafana.annotate_deploy(op.service, op.environment,
                                              f"{op.action} {op.service} {op.version} by @{op.requester_name}"
                                              f"{state} [{op.id}]")
        except IntegrationError as exc:
            log.warning("could not annotate %s in Grafana: %s", op.id, exc)

    async def _call(self, op: Operation, request: OperationRequest) -> OperationResult:
        if op.action == "deploy":
            return await self.providers.deployer(op.service).deploy(request)
        if op.action == "rollback":
            return await self.providers.deployer(op.service).rollback(request)
        if op.action == "scale":
            scaler = self.providers.scaler(op.service)
            if scaler is None:
                raise ValidationFailed(f"{op.service} has no provider configured that can scale.")
            return await scaler.scale(request)
        return await self.providers.migrator(op.service).migrate(request)

    async def _health(self, op: Operation) -> tuple[bool | None, str] | None:
        """(healthy, sentence) from the monitor or the provider's check; None when nothing can tell."""
        try:
            checker = self.providers.health_checker(op.service)
            if checker is None:
                return None
            report = await checker.check(op.service, op.environment)
        except IntegrationError as exc:
            return False, str(exc)
        if report.status is HealthStatus.UNKNOWN:
            return None, report.summary
        return report.status is HealthStatus.HEALTHY, report.summary

    async def _finish(self, op: Operation, result: str, text: str, approvers: list[str], error: str | None) -> None:
        await self._audit_op(op, result, approved_by=", ".join(f"@{a}" for a in approvers) or None, error=error,
                             duration=since(op.created_at))
        await self._show(op, text, final=True)
        for listener in self.finished_listeners:
            try:
                await listener(op, text)
            except Exception:  # a listener never changes an operation's outcome
                log.warning("a finished-operation listener failed for %s", op.id, exc_info=True)

    async def recover(self) -> list[Operation]:
        """At start: report operations whose outcome was never recorded as interrupted; free their locks."""
        lost = [op for op in await self.store.with_status("approved", "running") if not runner_alive(op.runner)]
        for op in lost:
            if not await self.store.transition(op.id, ("approved", "running"), "interrupted", finished_at=now_iso(),
                                               outcome="interrupted by a restart"):
                continue
            await self.store.finish_deploy(op.id, "interrupted")
            await self.store.release_lock(op.id)
            approvers = await self._approvers(op.id)
            await self._audit_op(op, "interrupted", approved_by=", ".join(f"@{a}" for a in approvers) or None,
                                 error="Opscord stopped before the outcome was recorded",
                                 duration=since(op.created_at))
            text = (f"⚡ Interrupted: `{op.command}` by @{op.requester_name} was running when Opscord stopped; "
                    f"its outcome is unknown. Check {op.service} in {op.environment} before retrying.")
            await self._show(op, text, final=True)
            if self.notifier is not None:
                with contextlib.suppress(Exception):
                    await self.notifier.announce(text)
        for lock in await self.store.locks():
            holder = await self.store.get(lock.operation_id)
            if holder is None or holder.status != "running" or not (holder.runner == RUNNER
                                                                     or runner_alive(holder.runner)):
                await self.store.release_lock(lock.operation_id)
        return lost

    async def close(self) -> None:
        """Cancel running executions (they are reported interrupted at the next start)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _link(result: OperationResult) -> str:
    return f"\nRun: <{result.url}>" if result.url else ""
