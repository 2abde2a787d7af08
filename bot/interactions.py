"""Turning interactions into audit rows: the command as typed, `@user`, `#channel`, duration."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import discord

from bot.audit import AuditEntry, AuditRow, utc_timestamp
from bot.context import context_of

AUDITED_KEY = "opscord_audited"


def user_label(user: discord.abc.User | None) -> str:
    """`@name` as in the export."""
    return f"@{user.name}" if user is not None else "@unknown"


def channel_label(channel: Any) -> str | None:
    """`#name` as in the export, or the channel ID when the name is unknown."""
    if channel is None:
        return None
    name = getattr(channel, "name", None)
    return f"#{name}" if name else f"#{getattr(channel, 'id', '?')}"


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
    parts = [f"/{data.get('name', '?')}"]
    options = data.get("options") or []
    while options and options[0].get("type") in (1, 2):  # subcommand group / subcommand
        parts.append(options[0]["name"])
        options = options[0].get("options") or []
    resolved = data.get("resolved") or {}
    for opt in options:
        if "value" in opt:
            parts.append(_option_text(opt, resolved))
    return " ".join(parts)


def elapsed_seconds(interaction: discord.Interaction[Any]) -> float:
    """Seconds since the interaction was created (its snowflake time)."""
    return max(0.0, (datetime.now(UTC) - interaction.created_at).total_seconds())


async def audit_interaction(
    interaction: discord.Interaction[Any],
    result: str,
    *,
    approved_by: str | None = None,
    command: str | None = None,
    **extra: Any,
) -> AuditRow:
    """Append the audit row for this invocation and mark it audited."""
    ctx = context_of(interaction.client)
    interaction.extras[AUDITED_KEY] = True
    fields: dict[str, Any] = {
        "user_id": str(interaction.user.id),
        "interaction_id": str(interaction.id),
    }
    if interaction.guild_id:
        fields["guild_id"] = str(interaction.guild_id)
    fields.update({k: v for k, v in extra.items() if v is not None})
    entry = AuditEntry(
        user=user_label(interaction.user),
        command=command or command_text(interaction),
        result=result,
        approved_by=approved_by,
        duration_seconds=round(elapsed_seconds(interaction), 3),
        channel=channel_label(interaction.channel),
        timestamp=utc_timestamp(interaction.created_at),
        extra=fields,
    )
    return await ctx.audit.append(entry)
