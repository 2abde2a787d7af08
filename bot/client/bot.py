"""OpsBot: the discord.py client. It composes its services once, recovers before it connects, loads the cogs.

`setup_hook` runs after login and before the gateway connects, so crash recovery there finishes
before any interaction can arrive: a command handled in the first second after a start is never
mistaken for one its own process left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json
import logging
import pkgutil
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.client.buttons import BUTTONS, answer_unknown
from bot.client.guild import resolve_channel
from bot.client.phrase import PhraseForms
from bot.client.reactions import on_reaction
from bot.client.reviews import ReviewSync
from bot.client.sync import MessageSync
from bot.client.timing import time_discord_calls
from bot.client.tree import OpsTree
from bot.store import Change
from bot.store.changes import PutFact

if TYPE_CHECKING:
    from bot.app import App
    from bot.trail import CheckpointNote

log = logging.getLogger("bot.client")
EXTENSION_PACKAGE = "cogs"


def discover_extensions() -> list[str]:
    """Every module in `cogs/`: one extension per command family."""
    package = importlib.import_module(EXTENSION_PACKAGE)
    return sorted(f"{EXTENSION_PACKAGE}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
                  if not m.name.startswith("_"))


def app_of(client: discord.Client) -> App:
    """The services of an OpsBot (TypeError for any other client)."""
    if not isinstance(client, OpsBot):
        raise TypeError("client is not an OpsBot")
    return client.app


class OpsBot(commands.Bot):
    """The Opscord bot. `build` composes its services from it, once, at construction."""

    def __init__(self, build: Callable[[discord.Client], App], *, guild_ready_timeout: float = 2.0) -> None:
        intents = discord.Intents.default()
        intents.members = True
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, tree_cls=OpsTree,
                         allowed_mentions=discord.AllowedMentions.none(), help_command=None,
                         guild_ready_timeout=guild_ready_timeout, max_messages=None)
        # No message cache: Opscord reads its messages from the store (buttons and reactions carry
        # their ids), and a cache of 1,000 messages is scanned on every MESSAGE_UPDATE and grows RSS.
        self.app = build(self)
        self.sync = MessageSync(self, self.app)
        self.reviews = ReviewSync(self, self.app)
        self.synced_commands: int | None = None
        self.expiry_interval = 15.0
        self.checkpoint_interval = self.app.config.audit.checkpoint_minutes * 60.0
        self.recovered = asyncio.Event()
        self.phrase_forms = PhraseForms()
        self._background: list[asyncio.Task[None]] = []

    @property
    def guild_object(self) -> discord.Object:
        """The configured guild."""
        return discord.Object(id=self.app.config.guild.id)

    async def setup_hook(self) -> None:
        """Recover (and resume incidents' retries), start the message sync, load every extension, sync the
        commands if they changed."""
        time_discord_calls(self, self.app.metrics)  # first responses and Discord's latency, for /metrics
        self.add_dynamic_items(*BUTTONS)
        report = await self.app.pipeline.recover()
        if report.interrupted or report.waiting_for or report.ended or report.watches_ended:
            log.warning("recovered from the last stop: %d interrupted, %d still running (waiting), %d ended, "
                        "%d health watch(es) ended", len(report.interrupted), len(report.waiting_for),
                        len(report.ended), report.watches_ended)
        self.recovered.set()
        await self.app.trail.start_keyed_chain()
        resumed = await self.app.incidents.resume()
        if resumed:
            log.warning("retrying %d page(s) or status page(s) that open incidents still lack", resumed)
        self._spawn(self.sync.run(), "opscord-message-sync")
        self._spawn(self.reviews.run(), "opscord-review-sync")
        for extension in discover_extensions():
            await self.load_extension(extension)
        guild = self.guild_object
        self.tree.copy_global_to(guild=guild)
        await self._sync_if_changed(guild)
        self._spawn(self._expiry_loop(), "opscord-expiry")
        if self.checkpoint_interval > 0:
            self._spawn(self._checkpoint_loop(), "opscord-checkpoints")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._background.append(asyncio.create_task(work, name=name))

    async def _sync_if_changed(self, guild: discord.Object) -> None:
        local = [cmd.to_dict(self.tree) for cmd in self.tree.get_commands(guild=guild)]
        digest = hashlib.sha256(json.dumps(local, sort_keys=True, default=str).encode()).hexdigest()
        key = f"command_digest:{guild.id}"
        stored = await self.app.store.fact(key)
        remote = await self.tree.fetch_commands(guild=guild)
        if stored == digest and {c.name for c in remote} == {c["name"] for c in local}:
            log.info("application commands unchanged; not syncing (%d commands)", len(local))
            self.synced_commands = 0
            return
        synced = await self.tree.sync(guild=guild)
        self.synced_commands = len(synced)
        await self.app.store.apply(Change.of(PutFact(key, digest)))
        log.info("synced %d application commands to guild %s", len(synced), guild.id)

    async def _expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(self.expiry_interval)
            try:
                await self.app.pipeline.expire_due()
                await self.app.pipeline.remind_reviews()
            except Exception:
                log.exception("expiring waiting requests (or reminding overdue reviews) failed")

    async def _checkpoint_loop(self) -> None:
        await self.wait_until_ready()
        while True:
            try:
                await self.post_checkpoint()
            except Exception:
                log.exception("posting an audit checkpoint failed")
            await asyncio.sleep(self.checkpoint_interval)

    async def post_checkpoint(self, note: CheckpointNote | None = None) -> bool:
        """Post a signed checkpoint of the chain's head to the audit channel when it moved since the last one
        (or `note`, made on demand); an alarm instead when the chain failed its check since the last."""
        note = note or await self.app.trail.checkpoint_due()
        if note is None:
            return False
        ref = self.app.config.channels.audit
        channel = resolve_channel(self, self.app.config.guild.id, ref)
        if channel is None:
            log.warning("audit channel %r not found; no checkpoint posted", ref)
            return False
        await channel.send(note.text, allowed_mentions=discord.AllowedMentions.none())
        if note.checkpoint is not None:
            await self.app.trail.checkpoint_posted(note.checkpoint)
        return True

    async def shutdown(self) -> None:
        """The graceful stop: refuse new operations, let running ones finish, show their state, close."""
        stopped = await self.app.pipeline.stop()
        if stopped:
            log.warning("stopped %d operation(s) that did not finish within the grace period", stopped)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sync.flush(), 10)
            await asyncio.wait_for(self.reviews.flush(), 10)
        if self.checkpoint_interval > 0:  # what the log held when Opscord stopped is witnessed
            try:
                await asyncio.wait_for(self.post_checkpoint(), 10)
            except Exception as exc:  # the stop goes on
                log.warning("no audit checkpoint at shutdown: %s", exc)
        await self.close()

    async def close(self) -> None:
        """Stop background work and executions (the next start reports those interrupted), then disconnect."""
        await self.app.pipeline.runner.abort()
        await self.app.incidents.close()
        for task in self._background:
            task.cancel()
        for task in self._background:
            while not task.done():  # Python 3.11's wait_for swallows a cancel that races its inner wait: again
                await asyncio.wait({task}, timeout=1.0)
                if not task.done():
                    task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._background.clear()
        await super().close()

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        """✅ and ❌ on a request's message count like its buttons."""
        await on_reaction(self, self.app, payload)

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Answer what discord.py would drop: a step-up form past its time, a click no button of Opscord's knows."""
        await self.phrase_forms.answer_stale(interaction)
        await answer_unknown(interaction)

    async def on_ready(self) -> None:
        """Log the identity once connected."""
        log.info("connected as %s (%s) to %d guild(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds))
