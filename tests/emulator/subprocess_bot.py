"""Runs the test bot in its own process against an emulator given by environment variables.

Used by the subprocess smoke test, which is how the sandbox runs the bot: not sharing a loop.
"""

from __future__ import annotations

import asyncio
import os

import discord
import yarl
from discord.gateway import DiscordWebSocket

from tests.emulator.testbot import OpsTestBot


async def main() -> None:
    discord.http.Route.BASE = os.environ["EMULATOR_API_BASE"]
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["EMULATOR_GATEWAY"])
    async with OpsTestBot(int(os.environ["EMULATOR_GUILD_ID"])) as bot:
        await bot.start(os.environ["EMULATOR_TOKEN"])


if __name__ == "__main__":
    asyncio.run(main())
