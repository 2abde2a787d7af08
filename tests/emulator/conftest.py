"""Harness: a started emulator with one guild, and a runner that connects real discord.py bots to it.

The bot and the emulator share the test's event loop. ``discord.http.Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY`` are patched for the test and restored afterwards. Any ERROR
logged by discord.py (an exception swallowed in a command, a view, the gateway reader) fails the
test, and so does any request the emulator refused that the test did not expect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord
import pytest
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot.sandbox.emulator import Channel, DiscordEmulator, Guild, Member, Role
from tests.conftest import ErrorLogCollector
from tests.emulator.testbot import OpsTestBot

TOKEN = "test-token"


@dataclass
class World:
    """The emulator and the guild the tests act in."""

    emu: DiscordEmulator
    guild: Guild
    channel: Channel
    lead: Role
    alice: Member
    bob: Member


@pytest.fixture
async def world(error_logs: ErrorLogCollector) -> AsyncIterator[World]:
    """A started emulator: guild "Opscord Test", #deployments, alice (team-lead) and bob."""
    emu = DiscordEmulator(bot_token=TOKEN)
    guild = emu.add_guild("Opscord Test")
    lead = emu.add_role(guild.id, "team-lead")
    channel = emu.add_channel(guild.id, "deployments")
    alice = emu.add_member(guild.id, "alice", roles=[lead.id])
    bob = emu.add_member(guild.id, "bob")
    await emu.start()
    yield World(emu, guild, channel, lead, alice, bob)
    await emu.stop()
    assert emu.violations == [], f"unexpected refused requests: {emu.violations}"


class BotRunner:
    """Starts and stops discord.py bots against the emulator."""

    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu
        self.tasks: dict[commands.Bot, asyncio.Task[None]] = {}

    async def start(self, bot: commands.Bot, timeout: float = 5.0) -> commands.Bot:
        """Run ``bot.start`` in a task and wait until its ``on_ready``."""
        identified = self.emu.identify_count
        task = asyncio.create_task(bot.start(TOKEN))
        self.tasks[bot] = task
        ready = asyncio.create_task(self._ready(bot, identified))
        done, _ = await asyncio.wait({task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if task in done:
                task.result()  # re-raise the startup failure
            raise TimeoutError("bot did not become ready")
        return bot

    async def _ready(self, bot: commands.Bot, identified: int) -> None:
        await self.emu.wait_until(lambda: self.emu.identify_count > identified)
        await bot.wait_until_ready()

    async def stop(self, bot: commands.Bot) -> None:
        """Close the bot and check its task ended cleanly."""
        await bot.close()
        task = self.tasks.pop(bot)
        await asyncio.wait_for(task, 5.0)

    async def stop_all(self) -> None:
        for bot in list(self.tasks):
            await self.stop(bot)


@pytest.fixture
async def runner(world: World, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotRunner]:
    """Point discord.py at the emulator for this test; bots still running are closed at the end."""
    monkeypatch.setattr(discord.http.Route, "BASE", world.emu.api_base_url)
    monkeypatch.setattr(DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(world.emu.gateway_url))
    bots = BotRunner(world.emu)
    yield bots
    await bots.stop_all()


@pytest.fixture
async def bot(world: World, runner: BotRunner) -> OpsTestBot:
    """The test bot, connected and ready."""
    started = await runner.start(OpsTestBot(world.guild.id))
    assert isinstance(started, OpsTestBot)
    return started
