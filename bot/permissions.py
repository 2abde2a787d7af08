"""Capabilities: the config maps capability names to Discord roles; members hold what their roles give."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.config import OpscordConfig
from bot.errors import MissingCapability

T = TypeVar("T")


def _matches(role: discord.Role, refs: Iterable[str | int]) -> bool:
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

    def capabilities(self, member: discord.Member | discord.User) -> set[str]:
        """Every capability the member's roles give."""
        roles = getattr(member, "roles", [])
        return {cap for cap, refs in self._config.roles.items() if any(_matches(r, refs) for r in roles)}

    def has(self, member: discord.Member | discord.User, capability: str, environment: str | None = None) -> bool:
        """Whether the member holds `capability`; `operator` may be overridden per environment."""
        if capability == "operator" and environment is not None:
            env = self._config.environment(environment)
            if env is not None and env.operator_roles is not None:
                return any(_matches(r, env.operator_roles) for r in getattr(member, "roles", []))
        return capability in self.capabilities(member)

    def has_any(self, member: discord.Member | discord.User, capabilities: Iterable[str]) -> bool:
        """Whether the member holds at least one of `capabilities`."""
        return bool(self.capabilities(member) & set(capabilities))


def require_access(family: str) -> Callable[[T], T]:
    """A command check: the caller must hold one of the capabilities `[access].<family>` names."""

    async def predicate(interaction: discord.Interaction[Any]) -> bool:
        from bot.context import context_of  # the context module imports this one

        ctx = context_of(interaction.client)
        allowed: list[str] = getattr(ctx.config.access, family)
        if ctx.authorizer.has_any(interaction.user, allowed):
            return True
        names = ", ".join(allowed)
        raise MissingCapability(f"You need one of these roles to use /{family}: {names}.")

    return app_commands.check(predicate)
