"""/incident create | update | commander | timeline | resolve."""

from __future__ import annotations

import io
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.client import app_of
from bot.client.calls import actor_of, invocation_of
from cogs._operations import service_choices

_NONE = discord.AllowedMentions.none()
TEXT_MAX = 6000
"""Discord's own limit on a string option: longer text cannot be typed; what is shown is clipped."""


@app_commands.guild_only()
class IncidentCog(commands.GroupCog, group_name="incident", group_description="Open, update and resolve incidents"):
    """The /incident family; the work happens in bot.incidents. Replies ping nobody."""

    def __init__(self, app: App) -> None:
        self.app = app
        super().__init__()

    @app_commands.command(name="create", description="Open an incident: a thread, the on-call pinged, a page, "
                                                     "the status page")
    @app_commands.describe(title="What is wrong, in a few words", severity="sev1 (worst) to sev3",
                           service="The affected service (pages its on-call and updates its status page)")
    async def create(self, interaction: discord.Interaction[Any], title: app_commands.Range[str, 1, TEXT_MAX],
                     severity: Literal["sev1", "sev2", "sev3"], service: str | None = None) -> None:
        """The caller becomes the commander; the reply says who was and was not notified."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self.app.incidents.create(invocation_of(interaction), title, severity, service)
        await interaction.followup.send(outcome.reply, ephemeral=True, allowed_mentions=_NONE)

    @create.autocomplete("service")
    async def _services(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        return service_choices(self.app, current)

    @app_commands.command(name="update", description="Post an update to the incident (run it in its thread)")
    @app_commands.describe(text="What is known now",
                           status="identified or monitoring (the first update moves investigating to identified)")
    async def update(self, interaction: discord.Interaction[Any], text: app_commands.Range[str, 1, TEXT_MAX],
                     status: Literal["identified", "monitoring"] | None = None) -> None:
        """Post to the thread and the status page."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self.app.incidents.update(invocation_of(interaction), text, status)
        await interaction.followup.send(outcome.reply, ephemeral=True, allowed_mentions=_NONE)

    @app_commands.command(name="commander", description="Hand the incident over to another member")
    @app_commands.describe(member="The new incident commander")
    async def commander(self, interaction: discord.Interaction[Any], member: discord.Member) -> None:
        """Hand over; the thread and the announcement say so."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self.app.incidents.commander(invocation_of(interaction), actor_of(member))
        await interaction.followup.send(outcome.reply, ephemeral=True, allowed_mentions=_NONE)

    @app_commands.command(name="timeline", description="The incident's timeline as a Markdown file")
    async def timeline(self, interaction: discord.Interaction[Any]) -> None:
        """Every event and the deploys around it, attached for everyone here."""
        await interaction.response.defer(thinking=True)
        incident, filename, document = await self.app.incidents.timeline(invocation_of(interaction))
        await interaction.followup.send(f"🧾 Timeline of {incident.id}",
                                        file=discord.File(io.BytesIO(document.encode()), filename=filename),
                                        allowed_mentions=_NONE)

    @app_commands.command(name="resolve", description="Resolve the incident and schedule its postmortem")
    @app_commands.describe(text="How it was resolved")
    async def resolve(self, interaction: discord.Interaction[Any], text: app_commands.Range[str, 1, TEXT_MAX]) -> None:
        """Resolve everywhere, then schedule the postmortem."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self.app.incidents.resolve(invocation_of(interaction), text)
        await interaction.followup.send(outcome.reply, ephemeral=True, allowed_mentions=_NONE)


async def setup(bot: commands.Bot) -> None:
    """Add the cog."""
    await bot.add_cog(IncidentCog(app_of(bot)))
