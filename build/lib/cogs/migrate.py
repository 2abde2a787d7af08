"""/migrate."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.client import app_of
from bot.pipeline import OperationInput
from cogs._operations import environment_choices, request_operation, service_choices


@app_commands.guild_only()
class MigrateCog(commands.Cog):
    """Run a service's database migration."""

    def __init__(self, app: App) -> None:
        self.app = app

    @app_commands.command(name="migrate", description="Run the database migration of a service")
    @app_commands.describe(service="Service from the catalog", environment="Target environment")
    async def migrate(self, interaction: discord.Interaction[Any], service: str, environment: str) -> None:
        """In production this needs two approvals (seed policy)."""
        await request_operation(self.app, interaction, OperationInput("migrate", service, environment))

    @migrate.autocomplete("service")
    async def _services(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        return service_choices(self.app, current)

    @migrate.autocomplete("environment")
    async def _environments(self, interaction: discord.Interaction[Any], current: str
                            ) -> list[app_commands.Choice[str]]:
        return environment_choices(self.app, interaction, current)


async def setup(bot: commands.Bot) -> None:
    """Add the cog."""
    await bot.add_cog(MigrateCog(app_of(bot)))
