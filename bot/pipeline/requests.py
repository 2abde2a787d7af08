"""A new request: validate, authorize, apply policy and freezes, and record it — with its lock when it runs now.

The request, its audit row and (for one that runs at once) its lock are one store change, so
nothing says "Deploying…" unless the operation holds its lock, and every refusal is a row.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import OpscordConfig, ServiceConfig
from bot.errors import LockHeld, OpscordError, ValidationFailed
from bot.pipeline import messages
from bot.pipeline.access import Access
from bot.pipeline.breakglass import BreakGlass
from bot.pipeline.entries import call_entry, operation_entry
from bot.pipeline.plans import Plan, Plans
from bot.pipeline.policy import PolicyEngine
from bot.pipeline.quorum import dump_slots
from bot.pipeline.stepup import check_phrase
from bot.pipeline.types import AlreadyHandled, Invocation, OperationInput, Refused
from bot.processes import THIS_PROCESS
from bot.providers import ProviderRegistry
from bot.store import Change, Operation, Store, TargetFacts
from bot.store.changes import Append, ClaimInteraction, CreateOperation, Step, TakeLock
from bot.text import quoted
from bot.times import iso, now_iso
from integrations.errors import IntegrationError

log = logging.getLogger("bot.pipeline")

SAFE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


@dataclass(frozen=True)
class Accepted:
    """A recorded request: it waits for approval or confirmation, or it holds its lock and runs now."""

    op: Operation

    @property
    def runs_now(self) -> bool:
        """Whether it runs without waiting."""
        return self.op.status == "approved"


class Requests:
    """Turns a typed request into a recorded operation, or an audited refusal."""

    def __init__(self, config: OpscordConfig, store: Store, access: Access, providers: ProviderRegistry, *,
                 reviews_changed: asyncio.Event | None = None) -> None:
        self._config = config
        self._store = store
        self._access = access
        self._providers = providers
        self.policy = PolicyEngine(config.policy, config.freezes, confirm_minutes=config.operations.confirm_minutes)
        self.glass = BreakGlass(config, store, access, self.policy, reviews_changed or asyncio.Event())
        self.plans = Plans(store, providers, self.policy)

    async def refuse(self, inp: OperationInput, call: Invocation, sentence: str, result: str) -> Refused:
        """Audit a refusal of this request; the returned exception carries the sentence."""
        await self._store.append(call_entry(call, result, error=sentence, service=inp.service,
                                            environment=inp.environment, action=inp.action,
                                            break_glass=inp.break_glass))
        return Refused(sentence, result)

    async def step_up(self, inp: OperationInput, call: Invocation) -> str | None:
        """The phrase (the service name) the requester must type first, if the request's policy row wants one.

        None too when the request would be refused anyway: submitting it says why, audited. Nothing is read
        but the config (the first reply is due within Discord's 3 s and the request itself reads the rest),
        so a scale asks when the row of either direction wants it: which one applies needs the live count.
        """
        if not self.policy.asks_phrases:
            return None  # the common case, decided once from the config: no row asks for a phrase
        try:
            svc = self._validate(inp)
            self._access.require_operate(call, inp)
            actions = ("scale_up", "scale_down") if inp.action == "scale" else (inp.action,)
            wanted = [a for a in actions if self.policy.decide(a, inp.environment, inp.service).confirm_phrase]
        except OpscordError:
            return None
        if not wanted:
            return None
        await self._store.append(call_entry(call, "step_up", service=inp.service, environment=inp.environment,
                                            action=wanted[0] if len(wanted) == 1 else inp.action,
                                            step_up="asked for the service name"))
        return svc.name

    async def accept(self, inp: OperationInput, call: Invocation, *, phrase: str | None = None) -> Accepted:
        """Record the request (raises `Refused`, already audited, when it cannot be accepted).

        `phrase` is what the requester typed to confirm it, where its policy row asks for that.
        """
        try:
            op, opening, fields = await self._prepare(inp, call, phrase)
        except OpscordError as exc:
            raise await self.refuse(inp, call, exc.message, exc.result) from None
        except IntegrationError as exc:  # e.g. a provider whose secret variable is not set
            raise await self.refuse(inp, call, f"{exc}.".replace("..", "."), "error") from None
        runs_now = op.status == "approved"
        applied = await self._store.apply(Change.of(
            ClaimInteraction(call.interaction_id, op.id) if call.interaction_id else None,  # exactly once
            CreateOperation(op),
            TakeLock(op.service, op.environment, op.id, op.requester_name, str(THIS_PROCESS)) if runs_now else None,
            Append(operation_entry(op, "started" if runs_now else "requested", call=call,
                                   needs=None if runs_now else op.status.removeprefix("pending_"),
                                   plan=plan.digest if (plan := Plan.load(op.plan)) else None,
                                   step_up="service name typed" if phrase and phrase.strip() == op.service else None,
                                   **fields)),
            *opening,
        ))
        if applied.conflict is not None and applied.conflict.reason == "duplicate":
            raise AlreadyHandled(call.interaction_id)
        if applied.conflict is not None and applied.conflict.lock is not None:
            raise await self.refuse(inp, call, messages.locked(applied.conflict.lock), LockHeld.result)
        return Accepted(op)

    async def _prepare(self, inp: OperationInput, call: Invocation, phrase: str | None
                       ) -> tuple[Operation, list[Step], dict[str, Any]]:
        """The operation, the steps a break-glass one opens with, and its first audit row's extra fields."""
        svc = self._validate(inp)
        incident = await self.glass.authorize(call, inp) if inp.break_glass is not None else None
        if incident is None:
            self._access.require_operate(call, inp)
        facts = await self._store.target(inp.service, inp.environment)
        version, previous, current_replicas, policy_action = await self._what_changes(inp, facts)
        self._providers.for_action(svc.name, inp.action)  # a clear refusal when nothing can run it
        if facts.lock is not None:
            raise LockHeld(messages.locked(facts.lock))
        req = None
        if incident is not None:  # approvals, confirmation and freezes skipped; the lock (above) never
            approvals, roles, confirm, status, expires = 0, self.glass.called_on(
                policy_action, inp.environment, inp.service), False, "approved", None
        else:
            req = self.policy.decide(policy_action, inp.environment, inp.service)
            check_phrase(req, svc.name, policy_action, phrase, cli=call.via == "cli")
            approvals, roles, confirm = req.approvals, req.approver_roles, req.confirm
            if req.approvals:
                status = "pending_approval"
            elif req.confirm:
                status = "pending_confirmation"
            else:
                status = "approved"
            minutes = req.expiry_minutes if req.approvals else self.policy.expiry_of_confirmation(req)
            expires = iso(datetime.now(UTC) + timedelta(minutes=minutes)) if status != "approved" else None
        op = Operation(
            id=f"op-{secrets.token_hex(5)}", action=inp.action, policy_action=policy_action, service=inp.service,
            environment=inp.environment, version=version, previous_version=previous, replicas=inp.replicas,
            current_replicas=current_replicas, command=call.command, requester_id=call.actor.id,
            requester_name=call.actor.name, guild_id=call.guild_id, channel_id=call.channel_id,
            channel_name=call.channel_name, approvals_required=approvals, approver_roles=roles,
            confirm=confirm, status=status, created_at=now_iso(), expires_at=expires,
            holder=str(THIS_PROCESS) if status == "approved" else None, interaction_id=call.interaction_id,
            revision=1, shown_revision=0, break_glass=(inp.break_glass or "").strip() if incident is not None else None,
            quorum=dump_slots(req.slots) if req is not None and req.row.require else None)
        if incident is not None:
            opening, fields = self.glass.opened(op, incident)
            return op, opening, fields
        if req is None or status == "approved":
            return op, [], {}  # nobody is asked: nothing to bind
        return dataclasses.replace(op, plan=(await self.plans.plan(op, facts, req.freeze)).dump()), [], {}

    async def _what_changes(self, inp: OperationInput, facts: TargetFacts
                            ) -> tuple[str | None, str | None, int | None, str]:
        """(version, previous version, current replicas, policy action) of the request."""
        if inp.action == "deploy":
            return inp.version, facts.current_version, None, "deploy"
        if inp.action == "rollback":
            if facts.rollback_version is None:
                raise ValidationFailed(f"No previous successful deploy of {inp.service} in {inp.environment} "
                                       f"to roll back to.")
            return facts.rollback_version, facts.current_version, None, "rollback"
        if inp.action == "scale":
            current = await self.plans.current_replicas(inp.service, inp.environment, facts)
            # Unknown current count: treat it as a scale down, the safer reading.
            up = current is not None and inp.replicas is not None and inp.replicas >= current
            return None, None, current, "scale_up" if up else "scale_down"
        return None, None, None, "migrate"

    def _validate(self, inp: OperationInput) -> ServiceConfig:
        svc = self._config.service(inp.service)
        if svc is None:
            known = ", ".join(s.name for s in self._config.services)
            raise ValidationFailed(f"Unknown service {quoted(inp.service, 60)}. Known services: {known}.")
        if self._config.environment(inp.environment) is None or inp.environment not in svc.environments:
            raise ValidationFailed(f"{svc.name} is not deployed to {quoted(inp.environment, 40)}; its environments: "
                                   f"{', '.join(svc.environments)}.")
        if inp.action == "deploy":
            version = inp.version or ""
            if not SAFE_VERSION.fullmatch(version) or not svc.version_matches(version):
                raise ValidationFailed(f"Version {quoted(version, 64)} does not match {svc.name}'s version pattern "
                                       f"{svc.version_pattern} (for example v1.2.3).")
        if inp.action == "scale":
            low, high = svc.replicas.min, svc.replicas.max
            if inp.replicas is None or not low <= inp.replicas <= high:
                raise ValidationFailed(f"Replicas for {svc.name} must be between {low} and {high}; "
                                       f"got {inp.replicas}.")
        return svc
