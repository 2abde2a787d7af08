"""/status: health, versions per environment, locks, recent deploys and the dashboard of a service."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.client import app_of
from bot.client.calls import invocation_of
from bot.observe import ServiceStatus
from bot.pipeline.breakglass import status_line
from cogs._operations import service_choices

_ICONS = {"healthy": "🟢", "degraded": "🟡", "down": "🔴", "unknown": "⚪"}
_DEPLOY_ICONS = {"succeeded": "✅", "failed": "❌", "running": "⏳", "interrupted": "⚡"}


def status_embed(status: ServiceStatus) -> discord.Embed:
    """One field per environment, then the recent deploys."""
    svc = status.service
    embed = discord.Embed(title=f"{svc.name} — status", description=svc.description, url=status.dashboard,
                          colour=discord.Colour.blurple())
    for env in status.environments:
        lines = [f"version `{env.version}`" if env.version else "no deploy recorded"]
        if env.health is None:
            lines.append("⚪ no health check configured")
        else:
            lines.append(f"{_ICONS[env.health.status.value]} {env.health.status.value}: {env.health.summary[:300]}")
        if env.lock is not None:
            lines.append(f"🔒 locked by @{env.lock.holder_name} since {env.lock.since[:16].replace('T', ' ')} UTC")
        if env.pending:
            lines.append(f"⏳ {env.pending} request(s) waiting for approval or confirmation")
        embed.add_field(name=env.name, value="\n".join(lines)[:1024], inline=False)
    recent = [f"{_DEPLOY_ICONS.get(r.status, '•')} `{r.version}` → {r.environment} by @{r.requester}, "
              f"{r.started_at[:16].replace('T', ' ')} UTC" + (" (rollback)" if r.kind == "rollback" else "")
              for r in status.recent]
    embed.add_field(name="Recent deploys", value="\n".join(recent)[:1024] or "none yet", inline=False)
    if status.reviews:
        embed.add_field(name="Open break-glass reviews", value="\n".join(status_line(r) for r in status.reviews)[:1024],
                        inline=False)
    if status.dashboard:
        embed.add_field(name="Dashboard", value=status.dashboard[:1024], inline=False)
    return embed


@app_commands.guild_only()
class StatusCog(commands.Cog):
    """/status."""

    def __init__(self, app: App) -> None:
        self.app = app

    @app_commands.command(name="status", description="Health, versions, locks and recent deploys of a service")
    @app_commands.describe(service="Service from the catalog")
    async def status(self, interaction: discord.Interaction[Any], service: str) -> None:
        """Health checks run after the first response (they call the monitoring system); without any, it answers."""
        observer, none = self.app.observer, discord.AllowedMentions.none()
        if observer.answers_at_once(service):
            result = await observer.status(invocation_of(interaction), service)
            await interaction.response.send_message(embed=status_embed(result), ephemeral=True, allowed_mentions=none)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await observer.status(invocation_of(interaction), service)
        await interaction.followup.send(embed=status_embed(result), ephemeral=True, allowed_mentions=none)

    @status.autocomplete("service")
    async def _services(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        return service_choices(self.app, current)


async def setup(bot: commands.Bot) -> None:
    """Add the cog."""
    await bot.add_cog(StatusCog(app_of(bot)))
