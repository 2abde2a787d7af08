"""The command tree: every app-command failure goes through the one error path (bot.client.errors)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.client.calls import invocation_of
from bot.client.errors import answer_failure


class OpsTree(app_commands.CommandTree[Any]):
    """Answers any failure with one plain, ephemeral sentence, logs it with context and audits it once."""

    async def on_error(self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
        """The one error handler for every app command."""
        from bot.client.bot import app_of

        await answer_failure(app_of(interaction.client), interaction, invocation_of(interaction), error)
