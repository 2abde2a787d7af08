"""/help: the commands this member may use here, each with the policy that applies to it.

Built from the same `Access` and `PolicyEngine` the pipeline decides with, so what /help says is
what a request will meet (freezes included).
"""

from __future__ import annotations

from bot.config import OpscordConfig
from bot.errors import Frozen, PermissionDenied
from bot.pipeline import Access, Invocation, Journal, OpAction, OperationInput, PolicyEngine
from bot.pipeline.breakglass import reviewers_phrase
from bot.pipeline.policy import Requirement, role_phrase

OPERATIONS: tuple[tuple[OpAction, str, tuple[str, ...]], ...] = (
    ("deploy", "/deploy service version environment", ("deploy",)),
    ("rollback", "/rollback service environment", ("rollback",)),
    ("scale", "/scale service replicas environment", ("scale_up", "scale_down")),
    ("migrate", "/migrate service environment", ("migrate",)),
)
READS = {"status": ["/status service"], "logs": ["/logs service [last] [filter] [environment]"],
         "incident": ["/incident create title severity [service]", "/incident update text [status]",
                      "/incident resolve text", "/incident commander member", "/incident timeline"],
         "audit": ["/audit recent [user] [service] [limit]", "/audit verify", "/audit checkpoint",
                   "/audit export [since]", "/audit dora [days]"]}


def _needs(engine: PolicyEngine, action: str, environment: str, service: str | None = None) -> str:
    try:
        req: Requirement = engine.decide(action, environment, service)
    except Frozen as exc:
        return f"refused now: {exc.message}"
    if req.approvals:
        needs = req.sentence().rstrip(".").replace("Requires", "needs", 1)
    elif req.confirm:
        needs = "you confirm it"
    else:
        needs = "runs at once"
    if req.confirm_phrase:
        return f"you type the service name to confirm first, then {'it ' if req.approvals else ''}{needs}"
    return needs


def _own_rows(engine: PolicyEngine, action: str, environment: str) -> list[str]:
    """Services with a policy row of their own for this action here (they may need more than the rest)."""
    return list(dict.fromkeys(row.service for row in engine.rows if row.service != "*"
                              and row.action in (action, "*") and row.environment in (environment, "*")))


class Guide:
    """Answers /help."""

    def __init__(self, config: OpscordConfig, access: Access, policy: PolicyEngine, journal: Journal) -> None:
        self._config = config
        self._access = access
        self._policy = policy
        self._journal = journal

    async def help(self, call: Invocation) -> list[str]:
        """Lines for this member, here."""
        async with self._journal.command(call, None):
            lines = self._operations(call) + self._approvals(call) + self._break_glass(call) + self._reads(call)
            if not lines:
                return ["You hold no role that Opscord gives a command to; ask an admin which roles map to "
                        "`[roles]` in its config."]
            return ["What you can do here:", *lines]

    def _operations(self, call: Invocation) -> list[str]:
        lines: list[str] = []
        for action, usage, policy_actions in OPERATIONS:
            allowed = []
            for env in self._config.environments:
                try:
                    self._access.require_operate(call, OperationInput(action, "", env.name))
                except PermissionDenied:
                    continue  # not here: left out
                needs = " / ".join(f"{p.replace('_', ' ')}: {_needs(self._policy, p, env.name)}"
                                   if len(policy_actions) > 1 else _needs(self._policy, p, env.name)
                                   for p in policy_actions)
                own = [f"{service}: " + " / ".join(_needs(self._policy, p, env.name, service)
                                                   for p in policy_actions)
                       for service in dict.fromkeys(s for p in policy_actions
                                                    for s in _own_rows(self._policy, p, env.name))]
                allowed.append(f"{env.name} — {needs}" + (f" ({'; '.join(own)})" if own else ""))
            if allowed:
                lines.append(f"`{usage}` · " + "; ".join(allowed))
        return lines

    def _approvals(self, call: Invocation) -> list[str]:
        approver_roles = {role for row in self._policy.rows for role in (*row.approver_roles, *row.require)}
        mine = sorted(approver_roles & self._access.capabilities(call.actor))
        if not mine:
            return []
        roles = " or ".join(role_phrase(r) for r in mine)
        lines = [f"As a {roles} you approve others' requests that need one: ✅ Approve (or react ✅), ❌ Reject."]
        if len(mine) > 1 and any(row.require for row in self._policy.rows):
            lines.append("Where a request needs approvals by role, you fill one of its slots, whichever roles you "
                         "hold.")
        return lines

    def _break_glass(self, call: Invocation) -> list[str]:
        settings = self._config.break_glass
        if settings is None:
            return []
        lines = []
        if self._access.holds_any(call.actor, settings.roles):
            options = " · ".join(f"`/{a} … break_glass:<reason>`" for a in settings.actions)
            reviewers = reviewers_phrase(settings.reviewers)
            lines.append(f"During an open incident of a service you may break glass: {options} runs at once, "
                         f"skipping approvals and freezes (never a lock); {settings.acknowledgements} "
                         f"{reviewers}{'s' if settings.acknowledgements > 1 else ''} then review it within "
                         f"{settings.review_hours:g} h.")
        if self._access.holds_any(call.actor, settings.reviewers):
            lines.append(f"You review others' break-glass operations: 👀 Acknowledge in the audit channel "
                         f"({settings.acknowledgements} reviewers, within {settings.review_hours:g} h).")
        return lines

    def _reads(self, call: Invocation) -> list[str]:
        return [f"`{usage}`" for family, usages in READS.items() if self._access.may_use(call.actor, family)
                for usage in usages]
