"""End-to-end harness: the real OpsBot (real discord.py) against the in-process Discord emulator."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
import yarl

from bot.app import App, discord_app, open_foundation
from bot.client import OpsBot
from bot.config import OpscordConfig, parse_config
from bot.sandbox.emulator import DiscordEmulator, InteractionHandle, Message
from bot.sandbox.tasks import busy_tasks
from bot.settings import Settings
from bot.store import AuditRow

TOKEN = "emulator-bot-token-0123456789"  # noqa: S105 - the emulator's test token
ROLE_NAMES = ("ops", "team-lead", "dba", "engineering", "incident-commander", "oncall", "payment-oncall")
MEMBERS = {"alice": ["ops"], "bob": ["team-lead"], "carol": ["dba"], "dave": ["engineering"],
           "erin": ["ops"], "frank": ["team-lead", "ops"]}
CHANNELS = ("deployments", "incidents", "audit", "general", "alerts")


@dataclass
class Harness:
    """One emulated guild, one DB, and a running OpsBot that can be restarted."""

    tmp_path: Path
    raw_config: dict[str, Any]
    environ: dict[str, str] | None = None
    emu: DiscordEmulator = field(init=False)
    users: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    bot: OpsBot | None = None
    app: App | None = None
    config: OpscordConfig | None = None
    _stack: contextlib.AsyncExitStack | None = None
    _task: asyncio.Task[None] | None = None
    _saved: tuple[str, yarl.URL] | None = None

    async def start(self, *, with_bot: bool = True) -> None:
        """Start the emulator, build the guild, start the bot."""
        self.emu = DiscordEmulator(TOKEN)
        guild = self.emu.add_guild("Opscord Test")
        self.guild_id = guild.id
        for name in ROLE_NAMES:
            self.roles[name] = self.emu.add_role(guild.id, name).id
        for name in CHANNELS:
            self.channels[name] = self.emu.add_channel(guild.id, name).id
        for name, roles in MEMBERS.items():
            self.users[name] = self.emu.add_member(guild.id, name, roles=[self.roles[r] for r in roles]).id
        await self.emu.start()
        self._saved = (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
        discord.http.Route.BASE = self.emu.api_base_url
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.emu.gateway_url)
        self.raw_config["guild"] = {"id": guild.id, "name": "Opscord Test"}
        self.config = parse_config(self.raw_config)
        if with_bot:
            await self.start_bot()

    async def start_bot(self) -> OpsBot:
        """(Re)start OpsBot on the same DB and wait until it is ready and recovered."""
        assert self.config is not None
        settings = Settings(discord_token=TOKEN, opscord_db=self.tmp_path / "opscord.db",
                            discord_api_base_url=self.emu.api_base_url, discord_gateway_url=self.emu.gateway_url)
        self._stack = contextlib.AsyncExitStack()
        base = await self._stack.enter_async_context(open_foundation(settings, self.config, self.environ))
        self.bot = OpsBot(discord_app(base), guild_ready_timeout=0.1)
        self.app = self.bot.app
        self.bot.expiry_interval = 0.2
        self._task = asyncio.create_task(self.bot.start(TOKEN))
        await asyncio.wait_for(self.bot.wait_until_ready(), 10)
        await asyncio.wait_for(self.bot.recovered.wait(), 10)
        return self.bot

    async def stop_bot(self) -> None:
        """Close the bot and its resources (as a graceful shutdown would)."""
        await self.settle()
        if self.bot is not None:
            await self.bot.close()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None
        self.bot = None

    async def settle(self, timeout: float = 10) -> None:
        """Wait for in-flight command handlers and button callbacks to finish."""
        pending = busy_tasks(operations=False)  # operations may be blocked on purpose
        if pending:
            await asyncio.wait(pending, timeout=timeout)

    async def restart_bot(self) -> OpsBot:
        """Stop and start again on the same DB and emulator."""
        await self.stop_bot()
        return await self.start_bot()

    async def stop(self) -> None:
        """Stop everything and restore discord.py's URLs."""
        await self.stop_bot()
        await self.emu.stop()
        if self._saved:
            discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = self._saved

    # --- acting as users ----------------------------------------------------------------------
    async def run(self, user: str, command: str, options: dict[str, Any] | None = None,
                  channel: str = "deployments") -> InteractionHandle:
        """`user` runs a slash command; returns once the bot answered the interaction."""
        await self.settle()
        handle = await self.emu.run_command(self.guild_id, self.channels[channel], self.users[user], command,
                                            options or {})
        await handle.wait_response(timeout=5)
        return handle

    async def click(self, user: str, message: Message, label: str) -> InteractionHandle:
        """`user` clicks the button labelled `label` on `message`."""
        await self.settle()
        button = next(b for b in message.buttons() if b.get("label") == label)
        handle = await self.emu.click_button(message.id, button["custom_id"], self.users[user])
        await handle.wait_response(timeout=5)
        return handle

    async def wait_message(self, message_id: int, fragment: str, timeout: float = 10) -> Message:
        """Wait until the message's content contains `fragment`."""
        def done() -> Message | None:
            msg = self.emu.get_message(message_id)
            return msg if fragment in (msg.content or "") else None
        return await self.emu.wait_until(done, timeout=timeout)

    async def audit_rows(self) -> list[AuditRow]:
        """Every audit row so far (once in-flight handlers have finished)."""
        await self.settle()
        assert self.app is not None
        return [row async for row in self.app.store.audit_rows()]

    async def export(self) -> list[dict[str, Any]]:
        """The export objects of every row."""
        return [row.export() for row in await self.audit_rows()]


@contextlib.asynccontextmanager
async def running(tmp_path: Path, raw: dict[str, Any], environ: dict[str, str] | None = None
                  ) -> AsyncIterator[Harness]:
    """A started harness over `raw`, stopped after; Discord's limits were never broken meanwhile."""
    h = Harness(tmp_path, raw) if environ is None else Harness(tmp_path, raw, environ=environ)
    await h.start()
    try:
        yield h
    finally:
        await h.stop()
    assert not h.emu.violations, h.emu.violations
