"""/logs: recent log lines of a service from its log source."""

from __future__ import annotations

import io
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import App
from bot.client import app_of
from bot.client.calls import invocation_of
from cogs._operations import environment_choices, service_choices
from integrations.base import LogLine

_BUDGET = 1900


def render_lines(lines: list[LogLine]) -> tuple[str, bool]:
    """The newest lines that fit one message as a code block, and whether some were left out.

    A zero-width space breaks any ``` in a line, so log text cannot close the code block.
    """
    rendered = [f"{line.timestamp:%H:%M:%S} {line.line}".replace("```", "`\u200b``")[:300] for line in lines]
    shown: list[str] = []
    size = 0
    for text in reversed(rendered):
        if size + len(text) + 1 > _BUDGET:
            break
        shown.insert(0, text)
        size += len(text) + 1
    return "```\n" + "\n".join(shown) + "\n```", len(shown) < len(rendered)


@app_commands.guild_only()
class LogsCog(commands.Cog):
    """/logs."""

    def __init__(self, app: App) -> None:
        self.app = app

    @app_commands.command(name="logs", description="Recent log lines of a service")
    @app_commands.describe(service="Service from the catalog", last="How far back, e.g. 15m, 1h, 2d (default 1h)",
                           filter="Only lines containing this text",
                           environment="Environment (default: production, else the service's first)")
    async def logs(self, interaction: discord.Interaction[Any], service: str, last: str = "1h",
                   filter: app_commands.Range[str, 1, 200] | None = None,
                   environment: str | None = None) -> None:
        """Lines come from the log aggregator after the first response."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        env, lines = await self.app.observer.logs(invocation_of(interaction), service, last=last,
                                                  environment=environment, line_filter=filter)
        heading = f"{service} in {env}, last {last.strip()}" + (f", containing {filter!r}" if filter else "")
        if not lines:
            await interaction.followup.send(f"No log lines for {heading}.", ephemeral=True,
                                            allowed_mentions=discord.AllowedMentions.none())
            return
        block, cut = render_lines(lines)
        files = []
        if cut:
            full = "\n".join(f"{line.timestamp.isoformat()} {line.line}" for line in lines)
            files.append(discord.File(io.BytesIO(full.encode()), filename=f"{service}-{env}.log"))
        count = f"{len(lines)} line{'s' if len(lines) != 1 else ''}"
        text = f"{count} of {heading}" + (" (newest shown; all attached)" if cut else "") + ":"
        await interaction.followup.send(f"{text}\n{block}"[:2000], files=files, ephemeral=True,
                                        allowed_mentions=discord.AllowedMentions.none())

    @logs.autocomplete("service")
    async def _services(self, interaction: discord.Interaction[Any], current: str) -> list[app_commands.Choice[str]]:
        return service_choices(self.app, current)

    @logs.autocomplete("environment")
    async def _environments(self, interaction: discord.Interaction[Any], current: str
                            ) -> list[app_commands.Choice[str]]:
        return environment_choices(self.app, interaction, current)


async def setup(bot: commands.Bot) -> None:
    """Add the cog."""
    await bot.add_cog(LogsCog(app_of(bot)))
