"""Who may do what, declared once: run operations, approve them, use each command family.

The config maps capabilities (`operator`, `team_lead`, `dba`, …) to Discord roles by name or id;
a member holds the capabilities their roles give. Every command goes through these checks —
operations in the pipeline, the read families (status, logs, incident, audit) in their services.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.config import OpscordConfig
from bot.errors import PermissionDenied
from bot.pipeline.policy import role_phrase
from bot.pipeline.types import Actor, ActorRole, Invocation, OperationInput

FAMILIES = ("audit", "status", "logs", "incident", "help")
_REMEMBERED_ROLE_SETS = 1024
"""Command families whose use `[access]` grants (help: everyone who may use any family)."""


def _matches(role: ActorRole, refs: Iterable[str | int]) -> bool:
    for ref in refs:
        if isinstance(ref, int) or ref.isdigit():
            if role.id == int(ref):
                return True
        elif role.name == ref:
            return True
    return False


class Access:
    """Answers "may this member …?" from the config, and refuses with the sentence they see."""

    def __init__(self, config: OpscordConfig) -> None:
        self._config = config
        self._given: dict[tuple[ActorRole, ...], frozenset[str]] = {}
        """What each set of roles seen so far gives (a guild has few; every command asks)."""

    def capabilities(self, actor: Actor) -> frozenset[str]:
        """Every capability the member's roles give."""
        given = self._given.get(actor.roles)
        if given is None:
            if len(self._given) >= _REMEMBERED_ROLE_SETS:
                self._given.clear()
            given = self._given[actor.roles] = frozenset(
                cap for cap, refs in self._config.roles.items() if any(_matches(r, refs) for r in actor.roles))
        return given

    def holds(self, actor: Actor, capability: str) -> bool:
        """Whether the member holds `capability`."""
        return capability in self.capabilities(actor)

    def holds_any(self, actor: Actor, capabilities: Iterable[str]) -> bool:
        """Whether the member holds at least one of `capabilities`."""
        return bool(self.capabilities(actor) & set(capabilities))

    def may_operate(self, actor: Actor, environment: str) -> bool:
        """`operator`, or the roles an environment's `operator_roles` names instead."""
        env = self._config.environment(environment)
        if env is not None and env.operator_roles is not None:
            return any(_matches(r, env.operator_roles) for r in actor.roles)
        return self.holds(actor, "operator")

    def require_operate(self, call: Invocation, inp: OperationInput) -> None:
        """Refuse unless the member may run this request where they typed it (role, operations channels)."""
        if not self.may_operate(call.actor, inp.environment):
            raise PermissionDenied(f"You need the operator role for {inp.environment} to {inp.action} {inp.service}.")
        self.require_channel(call)

    def require_channel(self, call: Invocation) -> None:
        """Refuse an operation typed outside the operations channels (when the config names some)."""
        allowed = self._config.channels.operations
        if call.via == "cli":
            return  # the CLI fallback is not a channel; its accounts are named in [fallback].users
        if allowed and call.channel_name not in allowed and not any(str(ref) == str(call.channel_id)
                                                                    for ref in allowed):
            names = ", ".join(f"#{c}" if isinstance(c, str) else str(c) for c in allowed)
            raise PermissionDenied(f"Operations run only in {names}.")

    def may_approve(self, actor: Actor, approver_roles: Iterable[str]) -> bool:
        """Whether the member holds one of the request's approver capabilities."""
        return self.holds_any(actor, approver_roles)

    def approvers_phrase(self, approver_roles: Iterable[str]) -> str:
        """"team lead or dba"."""
        return " or ".join(role_phrase(r) for r in approver_roles)

    def family_capabilities(self, family: str) -> list[str]:
        """The capabilities `[access].<family>` names (help: any family's)."""
        if family == "help":
            return sorted({cap for name in FAMILIES[:-1] for cap in getattr(self._config.access, name)})
        capabilities: list[str] = getattr(self._config.access, family)
        return capabilities

    def may_use(self, actor: Actor, family: str) -> bool:
        """Whether the member may use the command family."""
        return self.holds_any(actor, self.family_capabilities(family))

    def require_family(self, actor: Actor, family: str) -> None:
        """Refuse unless the member may use /<family>."""
        if self.may_use(actor, family):
            return
        allowed = self.family_capabilities(family)
        roles = sorted({str(ref) for cap in allowed for ref in self._config.roles.get(cap, [])})
        raise PermissionDenied(f"You need one of these roles to use /{family}: "
                               f"{', '.join(roles) or 'none configured'}.")
