"""/deploy and /rollback."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.client import app_of
from bot.pipeline import OperationInput
from cogs._operations import BREAK_GLASS, environment_choices, request_operation, service_choices, version_choices


@app_commands.guild_only()
class DeployCog(commands.Cog):
    """Deploy a version, or roll back to the previous successful one."""

    def __init__(self, app: App) -> None:
        self.app = app

    @app_commands.command(name="deploy", description="Deploy a version of a service to an environment")
    @app_commands.describe(service="Service from the catalog", version="Version, e.g. v2.4.1",
                           environment="Target environment", break_glass=BREAK_GLASS)
    async def deploy(self, interaction: discord.Interaction[Any], service: str,
                     version: app_commands.Range[str, 1, 64], environment: str,
                     break_glass: app_commands.Range[str, 1, 300] | None = None) -> None:
        """Deploy through the service's provider, then health-check."""
        inp = OperationInput("deploy", service, environment, version=version, break_glass=break_glass)
        await request_operation(self.app, interaction, inp)

    @app_commands.command(name="rollback", description="Roll a service back to its previous successful version")
    @app_commands.describe(service="Service from the catalog", environment="Environment to roll back",
                           break_glass=BREAK_GLASS)
    async def rollback(self, interaction: discord.Interaction[Any], service: str, environment: str,
                       break_glass: app_commands.Range[str, 1, 300] | None = None) -> None:
        """Ask the requester to confirm, then deploy the previous successful version."""
        await request_operation(self.app, interaction, OperationInput("rollback", service, environment,
                                                                      break_glass=break_glass))

    @deploy.autocomplete("service")
    @rollback.autocomplete("service")
    async def _services(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        return service_choices(self.app, current)

    @deploy.autocomplete("environment")
    @rollback.autocomplete("environment")
    async def _environments(self, interaction: discord.Interaction[Any], current: str
                            ) -> list[app_commands.Choice[str]]:
        return environment_choices(self.app, interaction, current)

    @deploy.autocomplete("version")
    async def _versions(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        return await version_choices(self.app, interaction, current)


async def setup(bot: commands.Bot) -> None:
    """Add the cog."""
    await bot.add_cog(DeployCog(app_of(bot)))
