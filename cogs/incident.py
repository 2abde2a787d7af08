"""/incident create | update | resolve."""

from __future__ import annotations

from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.approvals import DiscordIncidentRoom, actor_of
from bot.context import AppContext, context_of
from bot.incidents import Incidents
from bot.interactions import audit_interaction
from bot.permissions import check_access
from cogs._operations import pipeline_of, service_choices

_NONE = discord.AllowedMentions.none()


@app_commands.guild_only()
class IncidentCog(commands.GroupCog, group_name="incident", group_description="Open, update and resolve incidents"):
    """The /incident family; the work happens in bot.incidents."""

    def __init__(self, ctx: AppContext, incidents: Incidents) -> None:
        self.ctx = ctx
        self.incidents = incidents
        super().__init__()

    async def cog_load(self) -> None:
        """Operations on a service with an open incident are posted into its thread."""
        pipeline_of(self.ctx).finished_listeners.append(self.incidents.operation_finished)

    async def cog_unload(self) -> None:
        """Stop posting operations."""
        listeners = pipeline_of(self.ctx).finished_listeners
        if self.incidents.operation_finished in listeners:
            listeners.remove(self.incidents.operation_finished)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Only the capabilities `[access].incident` names."""
        check_access(self.ctx.authorizer, self.ctx.config, "incident", interaction.user)
        return True

    @app_commands.command(name="create", description="Open an incident: a thread, a page, the status page")
    @app_commands.describe(title="What is wrong, in a few words", severity="sev1 (worst) to sev3",
                           service="The affected service (pages its on-call and updates its status page)")
    async def create(self, interaction: discord.Interaction[Any], title: app_commands.Range[str, 1, 200],
                     severity: Literal["sev1", "sev2", "sev3"], service: str | None = None) -> None:
        """The caller becomes the commander."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        incident = await self.incidents.create(title, severity, actor_of(interaction.user), service)
        await interaction.followup.send(f"Opened {incident.id}: <#{incident.thread_id}>", ephemeral=True,
                                        allowed_mentions=_NONE)
        await audit_interaction(interaction, "success", incident=incident.id, service=service, severity=severity)

    @create.autocomplete("service")
    async def _services(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        return service_choices(self.ctx, current)

    @app_commands.command(name="update", description="Post an update to the incident (run it in its thread)")
    @app_commands.describe(text="What is known now", status="identified or monitoring")
    async def update(self, interaction: discord.Interaction[Any], text: app_commands.Range[str, 1, 1500],
                     status: Literal["identified", "monitoring"] | None = None) -> None:
        """Post to the thread and the status page."""
        incident = await self.incidents.find(self._thread_id(interaction))
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.incidents.update(incident, text, status, actor_of(interaction.user))
        await interaction.followup.send(f"Posted to {incident.id}.", ephemeral=True, allowed_mentions=_NONE)
        await audit_interaction(interaction, "success", incident=incident.id, service=incident.service)

    @app_commands.command(name="resolve", description="Resolve the incident and schedule its postmortem")
    @app_commands.describe(text="How it was resolved")
    async def resolve(self, interaction: discord.Interaction[Any], text: app_commands.Range[str, 1, 1500]) -> None:
        """Resolve everywhere, then schedule the postmortem."""
        incident = await self.incidents.find(self._thread_id(interaction))
        await interaction.response.defer(ephemeral=True, thinking=True)
        duration, start = await self.incidents.resolve(incident, text, actor_of(interaction.user))
        await interaction.followup.send(f"Resolved {incident.id} after {duration}; postmortem "
                                        f"<t:{int(start.timestamp())}:F>.", ephemeral=True, allowed_mentions=_NONE)
        await audit_interaction(interaction, "success", incident=incident.id, service=incident.service)

    @staticmethod
    def _thread_id(interaction: discord.Interaction[Any]) -> str | None:
        return str(interaction.channel_id) if isinstance(interaction.channel, discord.Thread) else None


async def setup(bot: commands.Bot) -> None:
    """Add the cog."""
    ctx = context_of(bot)
    await bot.add_cog(IncidentCog(ctx, Incidents(ctx.config, ctx.db, pipeline_of(ctx).providers,
                                                 DiscordIncidentRoom(bot))))
