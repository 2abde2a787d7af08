"""OpsBot: the discord.py client with injected resources, one extension per command family."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import pkgutil
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.approvals import BUTTONS, DiscordNotifier, actor_of, resolve_channel
from bot.context import AppContext
from bot.fallback import FallbackError, cli_actor
from bot.interactions import AUDITED_KEY, audit_interaction
from bot.pipeline import Actor
from bot.tree import OpsTree

log = logging.getLogger(__name__)

EXTENSION_PACKAGE = "cogs"


def discover_extensions() -> list[str]:
    """Every module in `cogs/`: one extension per command family."""
    import importlib

    package = importlib.import_module(EXTENSION_PACKAGE)
    return sorted(
        f"{EXTENSION_PACKAGE}.{m.name}" for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")
    )


class OpsBot(commands.Bot):
    """The Opscord bot. Resources arrive in `ctx`; nothing is built at import time."""

    def __init__(self, ctx: AppContext, *, guild_ready_timeout: float = 2.0) -> None:
        intents = discord.Intents.default()
        intents.members = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=OpsTree,
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            guild_ready_timeout=guild_ready_timeout,
        )
        self.ctx = ctx
        self.synced_commands: int | None = None
        self.expiry_interval = 15.0
        self.checkpoint_interval = ctx.config.audit.checkpoint_minutes * 60.0
        self.recovered = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []
        if ctx.pipeline is not None:
            ctx.pipeline.notifier = DiscordNotifier(self)
            ctx.pipeline.resolve_actor = self.resolve_actor

    @property
    def guild_object(self) -> discord.Object:
        """The configured guild."""
        return discord.Object(id=self.ctx.config.guild.id)

    async def setup_hook(self) -> None:
        """Load every extension, then sync the commands to the configured guild if they changed."""
        self.add_dynamic_items(*BUTTONS)
        for extension in discover_extensions():
            await self.load_extension(extension)
        guild = self.guild_object
        self.tree.copy_global_to(guild=guild)
        await self._sync_if_changed(guild)
        await self.start_background()

    async def _sync_if_changed(self, guild: discord.Object) -> None:
        local = [cmd.to_dict(self.tree) for cmd in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(json.dumps(local, sort_keys=True, default=str).encode()).hexdigest()
        stored = await self._stored_sync_digest(guild.id)
        remote = await self.tree.fetch_commands(guild=guild)
        if stored == digest and {c.name for c in remote} == {c["name"] for c in local}:
            log.info("application commands unchanged; not syncing (%d commands)", len(local))
            self.synced_commands = 0
            return
        synced = await self.tree.sync(guild=guild)
        self.synced_commands = len(synced)
        async with self.ctx.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (f"command_digest:{guild.id}", digest),
            )
        log.info("synced %d application commands to guild %s", len(synced), guild.id)

    async def _stored_sync_digest(self, guild_id: int) -> str | None:
        key = f"command_digest:{guild_id}"
        async with self.ctx.db.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def start_background(self) -> None:
        """Crash recovery once the guild is cached, then the expiry sweeper."""
        self._background.append(asyncio.create_task(self._after_ready(), name="opscord-recovery"))

    async def _after_ready(self) -> None:
        await self.wait_until_ready()
        pipeline = self.ctx.pipeline
        if pipeline is None:
            self.recovered.set()
            return
        try:
            lost = await pipeline.recover()
            if lost:
                log.warning("reported %d interrupted operation(s) from before the restart", len(lost))
        finally:
            self.recovered.set()
        if self.checkpoint_interval > 0:
            self._background.append(asyncio.create_task(self._checkpoint_loop(), name="opscord-checkpoints"))
        while not self.is_closed():
            await asyncio.sleep(self.expiry_interval)
            try:
                await pipeline.expire_due()
            except Exception:
                log.exception("expiring pending requests failed")

    async def _checkpoint_loop(self) -> None:
        while not self.is_closed():
            try:
                await self.post_checkpoint()
            except Exception:
                log.exception("posting an audit checkpoint failed")
            await asyncio.sleep(self.checkpoint_interval)

    async def post_checkpoint(self) -> bool:
        """Post the chain's head to the audit channel when it moved since the last checkpoint."""
        row_id, digest = await self.ctx.audit.head()
        async with self.ctx.db.conn.execute("SELECT value FROM kv WHERE key = 'audit_checkpoint'") as cur:
            rec = await cur.fetchone()
        if row_id == 0 or (rec is not None and rec[0] == f"{row_id}:{digest}"):
            return False
        channel = resolve_channel(self, self.ctx.config.channels.audit)
        if channel is None:
            log.warning("audit channel %r not found; no checkpoint posted", self.ctx.config.channels.audit)
            return False
        await channel.send(f"🔏 Audit checkpoint: row {row_id}, hash `{digest}`.\nTo check a copy of the log "
                           f"against it: `python -m bot audit verify --expect {row_id}:{digest}`")
        async with self.ctx.db.transaction() as conn:
            await conn.execute("INSERT INTO kv (key, value) VALUES ('audit_checkpoint', ?) "
                               "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (f"{row_id}:{digest}",))
        return True

    async def resolve_actor(self, user_id: str) -> Actor | None:
        """The current roles of a guild member (for re-checking approvers at execution)."""
        if user_id.startswith("cli:"):  # approved through the CLI fallback: roles come from the config
            try:
                return cli_actor(self.ctx.config, user_id.removeprefix("cli:"))
            except FallbackError:
                return None
        guild = self.get_guild(self.ctx.config.guild.id)
        if guild is None:
            return None
        member = guild.get_member(int(user_id))
        if member is None:
            try:
                member = await guild.fetch_member(int(user_id))
            except discord.HTTPException:
                return None
        return actor_of(member)

    async def close(self) -> None:
        """Stop background work, then disconnect."""
        for task in self._background:
            task.cancel()
        if self.ctx.pipeline is not None:
            await self.ctx.pipeline.close()
        await super().close()

    async def on_ready(self) -> None:
        """Log the identity once connected."""
        log.info("connected as %s (%s) to %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds))

    async def on_app_command_completion(
        self, interaction: discord.Interaction[Any], command: app_commands.Command[Any, ..., Any] | Any
    ) -> None:
        """Audit a completed command that its cog did not audit itself."""
        if not interaction.extras.get(AUDITED_KEY):
            await audit_interaction(interaction, "success")
