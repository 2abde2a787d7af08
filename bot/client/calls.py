"""Turning Discord interactions into the pipeline's values: who, what they typed, where, when."""

from __future__ import annotations

from typing import Any

import discord

from bot.logging_setup import bind
from bot.pipeline import Actor, ActorRole, Invocation
from bot.pipeline.types import CLICK_LABELS, Click, ClickKind, MessageRef


def actor_of(user: discord.abc.User | discord.Member) -> Actor:
    """A member as the pipeline sees them: their id, name and roles."""
    roles = tuple(ActorRole(r.id, r.name) for r in getattr(user, "roles", []) if not r.is_default())
    return Actor(id=str(user.id), name=user.name, roles=roles)


def _option_text(option: dict[str, Any], resolved: dict[str, Any]) -> str:
    """A value as the user saw it: members and users as `@name`, channels as `#name`, roles as `@role`."""
    value = option.get("value")
    kind = option.get("type")
    key = str(value)
    if kind == 6 and key in (resolved.get("users") or {}):
        return f"@{resolved['users'][key].get('username', key)}"
    if kind == 7 and key in (resolved.get("channels") or {}):
        return f"#{resolved['channels'][key].get('name', key)}"
    if kind == 8 and key in (resolved.get("roles") or {}):
        return f"@{resolved['roles'][key].get('name', key)}"
    return str(value)


def command_text(interaction: discord.Interaction[Any]) -> str:
    """The command as the user typed it: `/deploy order-service v2.4.1 production`."""
    data: dict[str, Any] = dict(interaction.data or {})
    if interaction.type is discord.InteractionType.component:
        return f"[component] {data.get('custom_id', '?')}"
    parts = [f"/{data.get('name', '?')}"]
    options = data.get("options") or []
    while options and options[0].get("type") in (1, 2):  # subcommand group / subcommand
        parts.append(options[0]["name"])
        options = options[0].get("options") or []
    resolved = data.get("resolved") or {}
    parts += [_option_text(opt, resolved) for opt in options if "value" in opt]
    return " ".join(parts)


def invocation_of(interaction: discord.Interaction[Any], command: str | None = None) -> Invocation:
    """The pipeline's view of an interaction (its ids are bound to the handler's log records too)."""
    bind(interaction_id=str(interaction.id), user_id=str(interaction.user.id))
    channel = interaction.channel
    return Invocation(
        actor=actor_of(interaction.user), command=command or command_text(interaction),
        guild_id=str(interaction.guild_id) if interaction.guild_id else None,
        channel_id=str(interaction.channel_id) if interaction.channel_id else None,
        channel_name=getattr(channel, "name", None), interaction_id=str(interaction.id),
        received_at=interaction.created_at)


def click_of(interaction: discord.Interaction[Any], kind: ClickKind, op_id: str) -> Click:
    """A button click on a request's message."""
    message = interaction.message
    where = MessageRef(str(message.channel.id), str(message.id)) if message is not None else None
    metadata = getattr(message, "interaction_metadata", None) if message is not None else None
    answers = str(metadata.id) if metadata is not None else None
    call = invocation_of(interaction, command=f"click {CLICK_LABELS[kind]} on {op_id}")
    return Click(op_id=op_id, kind=kind, call=call, message=where, answers=answers)


def family_of(interaction: discord.Interaction[Any]) -> str | None:
    """The command family an interaction ran (`/incident create` → incident); None for buttons."""
    command = interaction.command
    if command is None:
        return None
    root = getattr(command, "root_parent", None) or command
    return str(root.name)
