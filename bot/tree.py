"""The command tree: one error path for every app command, and an audit row for every invocation."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import discord
from discord import app_commands

from bot.errors import MissingCapability, OpscordError
from bot.interactions import AUDITED_KEY, audit_interaction, command_text
from integrations.errors import IntegrationError

log = logging.getLogger(__name__)


def describe_error(error: Exception) -> tuple[str, str, bool]:
    """(result, sentence, unexpected) for an app-command failure."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    if isinstance(original, MissingCapability):
        return original.result, original.message, False
    if isinstance(original, OpscordError):
        return original.result, original.message, False
    if isinstance(original, app_commands.TransformerError):
        name = getattr(original, "value", "")
        return "invalid", f"That value is not valid here: {str(name)[:100]}.", False
    if isinstance(original, app_commands.NoPrivateMessage):
        return "denied", "Opscord commands work in the server, not in direct messages.", False
    if isinstance(original, app_commands.CommandOnCooldown):
        return "denied", f"Slow down: try again in {original.retry_after:.0f} s.", False
    if isinstance(original, app_commands.CheckFailure):
        return "denied", "You are not allowed to run this command here.", False
    if isinstance(original, IntegrationError):
        return "failed", str(original), False
    return "error", "", True


class OpsTree(app_commands.CommandTree[Any]):
    """Answers any failure with one plain, ephemeral sentence, logs it with context and audits it."""

    async def on_error(self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
        """The one error handler for every app command."""
        result, sentence, unexpected = describe_error(error)
        if interaction.type is discord.InteractionType.application_command:
            command = command_text(interaction)
        else:
            data: dict[str, Any] = dict(interaction.data or {})
            command = f"[component] {data.get('custom_id', '?')}"
        if unexpected:
            ref = secrets.token_hex(4)
            sentence = f"Something went wrong running {command.split(' ')[0]}; it was logged as error {ref}."
            log.error("command %r by %s (%s) failed [ref %s]", command, interaction.user, interaction.user.id, ref,
                      exc_info=error)
        else:
            log.info("command %r by %s refused: %s", command, interaction.user, sentence)
        await self._reply(interaction, sentence)
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if not interaction.extras.get(AUDITED_KEY) and not getattr(original, "audited", False):
            try:
                await audit_interaction(interaction, result, command=command, error=sentence)
            except Exception:
                log.exception("could not audit the failed command %r", command)

    async def _reply(self, interaction: discord.Interaction[Any], sentence: str) -> None:
        try:
            if interaction.response.is_done():
                await interaction.followup.send(sentence, ephemeral=True,
                                                allowed_mentions=discord.AllowedMentions.none())
            else:
                await interaction.response.send_message(sentence, ephemeral=True,
                                                        allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.warning("could not tell %s about the failure: %s", interaction.user, exc)
