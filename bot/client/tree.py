"""The command tree: every app-command failure goes through the one error path (bot.client.errors)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.client.calls import family_of, invocation_of
from bot.client.errors import answer_failure


class OpsTree(app_commands.CommandTree[Any]):
    """Answers any failure with one plain, ephemeral sentence, logs it with context and audits it once.

    It also counts the commands between arriving and their handler's end (`FirstAnswers`): background
    work lets them be answered first.
    """

    def _from_interaction(self, interaction: discord.Interaction[Any]) -> None:
        from bot.client.bot import app_of

        app_of(self.client).pipeline.first_answers.arrived()  # counted as it arrives, before its task runs
        super()._from_interaction(interaction)

    async def _call(self, interaction: discord.Interaction[Any]) -> None:
        from bot.client.bot import app_of

        app = app_of(self.client)
        try:
            await super()._call(interaction)
        finally:
            app.pipeline.first_answers.answered()
        if interaction.type is discord.InteractionType.application_command and not interaction.command_failed:
            # a command that ended without an error (failures are counted on the error path); counted here
            # rather than on discord.py's app_command_completion event, which costs a task per command
            app.metrics.command(family_of(interaction) or "unknown", "ok")

    async def on_error(self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
        """The one error handler for every app command."""
        from bot.client.bot import app_of

        await answer_failure(app_of(interaction.client), interaction, invocation_of(interaction), error)
