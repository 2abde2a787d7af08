"""/scale."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.client import app_of
from bot.pipeline import OperationInput
from cogs._operations import BREAK_GLASS, environment_choices, request_operation, service_choices


@app_commands.guild_only()
class ScaleCog(commands.Cog):
    """Set a service's replica count within its bounds."""

    def __init__(self, app: App) -> None:
        self.app = app

    @app_commands.command(name="scale", description="Set the number of replicas of a service")
    @app_commands.describe(service="Service from the catalog", replicas="Desired replica count",
                           environment="Target environment", break_glass=BREAK_GLASS)
    async def scale(self, interaction: discord.Interaction[Any], service: str,
                    replicas: app_commands.Range[int, 0, 10_000], environment: str,
                    break_glass: app_commands.Range[str, 1, 300] | None = None) -> None:
        """Scale up runs directly; scaling down in production waits for a team lead (seed policy)."""
        inp = OperationInput("scale", service, environment, replicas=replicas, break_glass=break_glass)
        await request_operation(self.app, interaction, inp)

    @scale.autocomplete("service")
    async def _services(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        return service_choices(self.app, current)

    @scale.autocomplete("environment")
    async def _environments(self, interaction: discord.Interaction[Any], current: str
                            ) -> list[app_commands.Choice[str]]:
        return environment_choices(self.app, interaction, current)


async def setup(bot: commands.Bot) -> None:
    """Add the cog."""
    await bot.add_cog(ScaleCog(app_of(bot)))
