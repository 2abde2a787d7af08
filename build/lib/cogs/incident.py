"""/incident create | update | resolve."""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.client import app_of
from bot.client.calls import invocation_of
from cogs._operations import service_choices

_NONE = discord.AllowedMentions.none()


@app_commands.guild_only()
class IncidentCog(commands.GroupCog, group_name="incident", group_description="Open, update and resolve incidents"):
    """The /incident family; the work happens in bot.incidents."""

    def __init__(self, app: App) -> None:
        self.app = app
        super().__init__()

    @app_commands.command(name="create", description="Open an incident: a thread, a page, the status page")
    @app_commands.describe(title="What is wrong, in a few words", severity="sev1 (worst) to sev3",
                           service="The affected service (pages its on-call and updates its status page)")
    async def create(self, interaction: discord.Interaction[Any], title: app_commands.Range[str, 1, 200],
                     severity: Literal["sev1", "sev2", "sev3"], service: str | None = None) -> None:
        """The caller becomes the commander."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        incident = await self.app.incidents.create(invocation_of(interaction), title, severity, service)
        await interaction.followup.send(f"Opened {incident.id}: <#{incident.thread_id}>", ephemeral=True,
                                        allowed_mentions=_NONE)

    @create.autocomplete("service")
    async def _services(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        return service_choices(self.app, current)

    @app_commands.command(name="update", description="Post an update to the incident (run it in its thread)")
    @app_commands.describe(text="What is known now", status="identified or monitoring")
    async def update(self, interaction: discord.Interaction[Any], text: app_commands.Range[str, 1, 1500],
                     status: Literal["identified", "monitoring"] | None = None) -> None:
        """Post to the thread and the status page."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        incident = await self.app.incidents.update(invocation_of(interaction), text, status)
        await interaction.followup.send(f"Posted to {incident.id}.", ephemeral=True, allowed_mentions=_NONE)

    @app_commands.command(name="resolve", description="Resolve the incident and schedule its postmortem")
    @app_commands.describe(text="How it was resolved")
    async def resolve(self, interaction: discord.Interaction[Any], text: app_commands.Range[str, 1, 1500]) -> None:
        """Resolve everywhere, then schedule the postmortem."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        incident, duration, start = await self.app.incidents.resolve(invocation_of(interaction), text)
        await interaction.followup.send(f"Resolved {incident.id} after {duration}; postmortem "
                                        f"<t:{int(start.timestamp())}:F>.", ephemeral=True, allowed_mentions=_NONE)


async def setup(bot: commands.Bot) -> None:
    """Add the cog."""
    await bot.add_cog(IncidentCog(app_of(bot)))
