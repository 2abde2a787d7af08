"""The plan on a waiting request's card — exactly what will change — and the digest its approvals are bound to.

A request that waits for approval or confirmation gets a plan when it is made: the version from →
to, the replicas from → to, the migration's name, what the provider will do (the GitHub Actions
workflow and ref, the Argo CD sync target, the Kubernetes image) as far as it can tell without side
effects, whether a change freeze applies, and the last deploy of the target. The card shows it with
a short digest. Before the operation runs — at the last approval or the confirmation, and again at
the run's start — the plan is computed afresh; if any of it differs, what the approvers saw is no
longer what would happen, so their approvals are void and the request ends with the reason.

What a provider reports about the upstream's present state (`PlanContext`, e.g. Argo CD's sync status)
is shown for context but not bound: it describes the world, not the change.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC

from bot.config import FreezeWindow
from bot.errors import OpscordError
from bot.pipeline.policy import PolicyEngine
from bot.pipeline.provider_request import provider_request
from bot.providers import ProviderRegistry
from bot.store import Operation, Store, TargetFacts
from bot.text import shown
from integrations.base import Action, PlanContext, Planner, ProviderPlan
from integrations.errors import IntegrationError

log = logging.getLogger("bot.pipeline")

READ_SECONDS = 1.0
"""How long a read for the plan may take (a request's first reply is due within Discord's 3 s)."""

_LABELS = {"version": "the version change", "replicas": "the replica change", "migration": "the migration",
           "provider": "the provider's plan", "freeze": "the change freeze", "last_deploy": "the last deploy"}


@dataclass(frozen=True)
class Plan:
    """What a request will do, as (key, value) facts in a fixed order; `now` is context, not bound."""

    facts: tuple[tuple[str, str], ...]
    now: str | None = None

    @property
    def digest(self) -> str:
        """A short fingerprint of the facts (the card shows it; approvals' audit rows carry it)."""
        return hashlib.sha256(json.dumps(self.facts, ensure_ascii=False).encode()).hexdigest()[:12]

    def fact(self, key: str) -> str | None:
        """One fact's value, if the plan has it."""
        return dict(self.facts).get(key)

    def dump(self) -> str:
        """As stored on the operation."""
        return json.dumps({"facts": [list(f) for f in self.facts], "now": self.now, "digest": self.digest},
                          ensure_ascii=False)

    @classmethod
    def load(cls, text: str | None) -> Plan | None:
        """What `dump` wrote (None when the operation has no plan)."""
        if not text:
            return None
        data = json.loads(text)
        return cls(tuple((str(k), str(v)) for k, v in data.get("facts", [])), data.get("now"))

    def line(self) -> str:
        """"📋 Plan `3f9c2a71be04`: version v2.4.0 → v2.4.1 · GitHub Actions: deploy.yml on main … · no change
        freeze", and the provider's view of the target now on a line of its own."""
        parts = []
        for key, value in self.facts:
            if key in ("version", "replicas", "migration"):
                parts.append(f"{key} {shown(value, 160)}")
            elif key == "provider":
                parts.append(shown(value, 400))
            elif key == "freeze":
                parts.append("no change freeze" if value == "none" else f"change freeze: {shown(value, 200)}")
        now = f"\n{shown(self.now, 300)}" if self.now else ""
        return f"📋 Plan `{self.digest}`: " + " · ".join(parts) + now

    def changes(self, fresh: Plan) -> list[str]:
        """What differs in `fresh`, in plain words (empty when nothing the approvers saw changed)."""
        was, now = dict(self.facts), dict(fresh.facts)
        said: list[str] = []
        for key in dict.fromkeys([*was, *now]):
            before, after = was.get(key, "none"), now.get(key, "none")
            if before == after:
                continue
            if key == "last_deploy":  # the cause first: the differences it made follow
                said.insert(0, f"another deploy landed ({after})")
            elif key == "freeze":
                said.append("a change freeze began: " + after if before == "none" else
                            "the change freeze ended" if after == "none" else f"the change freeze is now {after}")
            else:
                said.append(f"{_LABELS.get(key, key)} was {before} on the card and is {after} now")
        return said


class Plans:
    """Computes plans and checks them again before a run."""

    def __init__(self, store: Store, providers: ProviderRegistry, policy: PolicyEngine) -> None:
        self._store = store
        self._providers = providers
        self._policy = policy

    async def plan(self, op: Operation, facts: TargetFacts, freeze: FreezeWindow | None, *, look: bool = True
                   ) -> Plan:
        """The plan of `op` as things stand (`look`: let the provider read the upstream's state for context)."""
        out: list[tuple[str, str]] = []
        if op.action in ("deploy", "rollback"):
            out.append(("version", f"{op.previous_version or 'nothing yet'} → {op.version}"))
        if op.action == "scale":
            current = "unknown" if op.current_replicas is None else str(op.current_replicas)
            out.append(("replicas", f"{current} → {op.replicas}"))
        provided, now = await self._provider_plan(op, look=look)
        if op.action == "migrate":
            out.append(("migration", provided.migration or "not named by the provider"))
        if provided.steps:
            out.append(("provider", "; ".join(provided.steps)))
        out.append(("freeze", "none" if freeze is None else
                    f"{freeze.reason} until {freeze.end.astimezone(UTC):%Y-%m-%d %H:%M} UTC"))
        history = await self._store.deploy_history(op.service, op.environment, limit=1)
        last = history[0] if history else None
        out.append(("last_deploy", "none" if last is None else
                    f"{last.operation_id}: {last.kind} {last.version} by @{last.requester}"))
        return Plan(tuple(out), now)

    async def recheck(self, op: Operation) -> str | None:
        """Why the plan its approvers saw no longer holds (None: it does, or the request has no plan)."""
        shown_plan = Plan.load(op.plan)
        if shown_plan is None:
            return None
        facts = await self._store.target(op.service, op.environment)
        if op.action == "deploy":
            op = replace(op, previous_version=facts.current_version)
        elif op.action == "rollback":
            op = replace(op, version=facts.rollback_version, previous_version=facts.current_version)
        elif op.action == "scale":
            op = replace(op, current_replicas=await self.current_replicas(op.service, op.environment, facts))
        freeze = self._policy.active_freeze(op.policy_action, op.environment)
        fresh = await self.plan(op, facts, freeze, look=False)
        changed = shown_plan.changes(fresh)
        if not changed:
            return None
        return "; ".join(changed)

    async def current_replicas(self, service: str, environment: str, facts: TargetFacts) -> int | None:
        """The live count (bounded: someone waits for the answer), else the last /scale."""
        scaler = self._providers.scaler(service)
        if scaler is not None:
            try:
                async with asyncio.timeout(READ_SECONDS * 1.5):
                    count = await scaler.current_replicas(service, environment)
            except (IntegrationError, TimeoutError) as exc:
                log.warning("could not read replicas of %s/%s: %s", service, environment,
                            exc or f"no answer within {READ_SECONDS * 1.5} s")
                count = None
            if count is not None:
                return count
        return facts.last_scale

    async def _provider_plan(self, op: Operation, *, look: bool) -> tuple[ProviderPlan, str | None]:
        """What the provider says it will do (a plan it cannot give says why, and binds that), and with
        `look` its view of the target now (left out when it cannot say in time)."""
        try:
            provider = self._providers.for_action(op.service, _action(op.action))
        except OpscordError:  # the request itself says what is missing
            return ProviderPlan(), None
        request = provider_request(op, _action(op.action))
        planned = ProviderPlan()
        if isinstance(provider, Planner):
            try:
                async with asyncio.timeout(READ_SECONDS):
                    planned = await provider.plan(request)
            except TimeoutError:
                planned = ProviderPlan((f"unknown: the provider did not say within {READ_SECONDS:g} s",))
            except IntegrationError as exc:
                planned = ProviderPlan((f"unknown: {exc}",))
        now = None
        if look and op.action in ("deploy", "rollback") and isinstance(provider, PlanContext):  # a scale has
            # read the replica count already: no second wait before the first reply
            try:
                async with asyncio.timeout(READ_SECONDS):
                    now = await provider.plan_context(request)
            except (TimeoutError, IntegrationError) as exc:
                log.info("no plan context for %s: %s", op.id, exc or "timed out")
        return planned, now


def _action(action: str) -> Action:
    if action not in ("deploy", "rollback", "scale", "migrate"):
        raise ValueError(f"not an operation: {action}")
    return action  # type: ignore[return-value]
