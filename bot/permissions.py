"""Capabilities: the config maps capability names to Discord roles; members hold what their roles give."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

import discord
from discord import app_commands

from bot.config import OpscordConfig
from bot.errors import MissingCapability

T = TypeVar("T")


class RoleLike(Protocol):
    """A Discord role or the pipeline's ActorRole."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


class HasRoles(Protocol):
    """A member (Discord's or the pipeline's Actor)."""

    @property
    def roles(self) -> Any: ...


Member = HasRoles | discord.User | discord.Member


def _matches(role: RoleLike, refs: Iterable[str | int]) -> bool:
    for ref in refs:
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            if role.id == int(ref):
                return True
        elif role.name == ref:
            return True
    return False


class Authorizer:
    """Answers "does this member hold capability X (in environment E)?" from the config."""

    def __init__(self, config: OpscordConfig) -> None:
        self._config = config

    def capabilities(self, member: Member) -> set[str]:
        """Every capability the member's roles give."""
        roles = getattr(member, "roles", [])
        return {cap for cap, refs in self._config.roles.items() if any(_matches(r, refs) for r in roles)}

    def has(self, member: Member, capability: str, environment: str | None = None) -> bool:
        """Whether the member holds `capability`; `operator` may be overridden per environment."""
        if capability == "operator" and environment is not None:
            env = self._config.environment(environment)
            if env is not None and env.operator_roles is not None:
                return any(_matches(r, env.operator_roles) for r in getattr(member, "roles", []))
        return capability in self.capabilities(member)

    def has_any(self, member: Member, capabilities: Iterable[str]) -> bool:
        """Whether the member holds at least one of `capabilities`."""
        return bool(self.capabilities(member) & set(capabilities))


def check_access(authorizer: Authorizer, config: OpscordConfig, family: str, user: Member) -> None:
    """Raise MissingCapability unless `user` holds one of the capabilities `[access].<family>` names."""
    allowed: list[str] = getattr(config.access, family)
    if authorizer.has_any(user, allowed):
        return
    roles = sorted({str(ref) for cap in allowed for ref in config.roles.get(cap, [])})
    raise MissingCapability(f"You need one of these roles to use /{family}: {', '.join(roles) or 'none configured'}.")


def require_access(family: str) -> Callable[[T], T]:
    """A command check: the caller must hold one of the capabilities `[access].<family>` names."""

    async def predicate(interaction: discord.Interaction[Any]) -> bool:
        from bot.context import context_of  # the context module imports this one

        ctx = context_of(interaction.client)
        check_access(ctx.authorizer, ctx.config, family, interaction.user)
        return True

    return app_commands.check(predicate)
