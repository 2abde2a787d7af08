"""Keeps Discord showing what the store holds: each operation's message, and the queued posts.

An operation's card is derived from its stored state; `shown_revision` records which revision its
message shows. This task edits every message that lags behind — after a transition, a failed or
rate-limited edit, a crash, or a decision made through the CLI while the bot was away — and posts
the queued announcements, retrying with backoff until Discord takes them. A message whose id was
never stored (a crash right after the reply) is found in its channel by the interaction it answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import discord

from bot.client.cards import Rendered, notice
from bot.client.guild import resolve_channel
from bot.store import Change, Decision, Operation
from bot.store.changes import MarkAnnounced, UpdateOperation
from bot.times import parse_iso

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("bot.client")
IDLE_SECONDS = 2.0
PROGRESS_SECONDS = 5.0
"""How often a running operation's message is edited to show its elapsed time."""
MIN_EDIT_SECONDS = 2.0
"""The least time between two edits of a running operation's message (Discord rate-limits edits)."""
REPLY_GRACE_SECONDS = 5.0
"""A request younger than this may still be storing its first message's id: leave it to its handler."""
PASS_SIZE = 20
"""Messages edited at once (discord.py keeps to each route's rate limit)."""
HISTORY_LOOKUP = 500
"""Messages read after the request's creation to find its reply (Discord pages them 100 at a time)."""


class MessageSync:
    """Brings messages up to date with the store; run `run()` as a background task."""

    def __init__(self, client: discord.Client, app: App) -> None:
        self._client = client
        self._app = app
        self._lock = asyncio.Lock()
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._edited_at: dict[str, float] = {}

    async def run(self) -> None:
        """Flush whenever the pipeline signals a change, and every few seconds regardless."""
        changed = self._app.pipeline.changed
        while True:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that lands
            # as the event is set, and this loop would then never stop
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_SECONDS):
                    await changed.wait()
            changed.clear()
            await self._app.pipeline.first_answers.after_them()
            try:
                await self.flush()
            except Exception:
                log.exception("bringing Discord messages up to date failed; trying again shortly")

    async def flush(self) -> int:
        """Edit lagging messages and deliver queued posts until none is left (or none can be delivered now)."""
        async with self._lock:
            done = 0
            while True:
                due = [(op, decisions) for op, decisions in await self._app.store.unshown(limit=10 * PASS_SIZE)
                       if self._retry_at.get(op.id, 0.0) <= time.monotonic()][:PASS_SIZE]
                shown = await asyncio.gather(*(self._show(op, decisions) for op, decisions in due))
                posted = await self._announce()
                await self._tick_running()
                done += sum(shown) + posted
                if not due or (sum(shown) == 0 and posted == 0):
                    return done

    async def _tick_running(self) -> None:
        """Running operations show their elapsed time: an edit every few seconds, not more."""
        now = time.monotonic()
        for op in await self._app.store.operations("running"):
            if op.message_id and now - self._edited_at.get(op.id, 0.0) >= PROGRESS_SECONDS:
                _, decisions = await self._app.store.operation_and_decisions(op.id)
                await self._show(op, decisions)

    async def _show(self, op: Operation, decisions: list[Decision]) -> int:
        if op.status == "running" and time.monotonic() - self._edited_at.get(op.id, 0.0) < MIN_EDIT_SECONDS:
            return 0  # a running card changes again in a moment: the next pass shows it (its outcome never waits)
        if op.message_id is None and op.caused_by and op.channel_id:
            return await self._post_own(op, decisions)
        if op.message_id is None:
            if not op.interaction_id or not op.channel_id or op.status == "abandoned":
                # the CLI fallback's has no message; an abandoned one's first message never arrived
                await self._shown(op)
                return 0
            if (datetime.now(UTC) - parse_iso(op.created_at)).total_seconds() < REPLY_GRACE_SECONDS:
                return 0
            found = await self._find_reply(op)
            if found is None:
                await self._shown(op)  # the reply was never sent: nothing shows this request
                return 0
            await self._app.store.apply(Change.of(UpdateOperation(
                op.id, {"message_channel_id": str(found.channel.id), "message_id": str(found.id)})))
            op = await self._app.store.operation(op.id) or op
        shown = Rendered(self._client, self._app.config, self._app.pipeline.card(op, decisions))
        assert op.message_channel_id is not None and op.message_id is not None
        message = self._client.get_partial_messageable(int(op.message_channel_id)).get_partial_message(
            int(op.message_id))
        try:
            await message.edit(content=shown.content, view=shown.view, allowed_mentions=shown.allowed_mentions)
        except discord.NotFound:
            log.info("the message of %s is gone; not showing it again", op.id)
        except discord.HTTPException as exc:
            failures = self._failures.get(op.id, 0) + 1
            self._failures[op.id] = failures
            self._retry_at[op.id] = time.monotonic() + min(60.0, 2.0 ** failures)
            log.warning("could not update the message of %s (%s); retrying in %.0f s", op.id, exc,
                        min(60.0, 2.0 ** failures))
            return 0
        self._failures.pop(op.id, None)
        self._retry_at.pop(op.id, None)
        if op.status == "running":
            self._edited_at[op.id] = time.monotonic()
        else:
            self._edited_at.pop(op.id, None)
        await self._shown(op)
        return 1

    async def _post_own(self, op: Operation, decisions: list[Decision]) -> int:
        """An operation Opscord started itself (a health gate's rollback): its card is a new message, replying to
        the deploy it undoes — or the one posted before a crash kept its id from the store, found by its id."""
        assert op.channel_id is not None
        channel = self._client.get_partial_messageable(int(op.channel_id))
        shown = Rendered(self._client, self._app.config, self._app.pipeline.card(op, decisions))
        try:
            message = await self._find_own(op)
            if message is None:
                deploy = await self._app.store.operation(op.caused_by or "")
                reference = (discord.MessageReference(message_id=int(deploy.message_id), channel_id=int(op.channel_id),
                                                      fail_if_not_exists=False)
                             if deploy is not None and deploy.message_id else None)
                message = await channel.send(shown.content, allowed_mentions=shown.allowed_mentions,
                                             reference=reference)  # type: ignore[arg-type]
            else:
                await message.edit(content=shown.content, allowed_mentions=shown.allowed_mentions)
        except discord.HTTPException as exc:
            log.warning("could not post the message of %s (%s); retrying", op.id, exc)
            self._retry_at[op.id] = time.monotonic() + 5.0
            return 0
        await self._app.store.apply(Change.of(UpdateOperation(
            op.id, {"message_channel_id": str(message.channel.id), "message_id": str(message.id)},
            shown_revision=op.revision)))
        if op.status == "running":
            self._edited_at[op.id] = time.monotonic()
        return 1

    async def _find_own(self, op: Operation) -> discord.Message | None:
        """Opscord's own message for `op` (its subject line ends with its id), when one was posted before a restart."""
        if (datetime.now(UTC) - parse_iso(op.created_at)).total_seconds() < REPLY_GRACE_SECONDS:
            return None  # just created here: nothing was posted yet
        assert op.channel_id is not None
        channel = self._client.get_partial_messageable(int(op.channel_id))
        since = discord.Object(discord.utils.time_snowflake(parse_iso(op.created_at) - timedelta(seconds=2)))
        me = self._client.user
        async for message in channel.history(limit=HISTORY_LOOKUP, after=since, oldest_first=True):
            first = (message.content or "").split("\n", 1)[0]  # its subject line ends with its id
            if me is not None and message.author.id == me.id and first.endswith(f"`{op.id}`"):
                return message
        return None

    async def _shown(self, op: Operation) -> None:
        await self._app.store.apply(Change.of(UpdateOperation(op.id, shown_revision=op.revision)))

    async def _find_reply(self, op: Operation) -> discord.Message | None:
        """The message that answered the request's interaction: in its channel, just after the request."""
        assert op.channel_id is not None and op.interaction_id is not None
        channel = self._client.get_partial_messageable(int(op.channel_id))
        since = discord.Object(discord.utils.time_snowflake(parse_iso(op.created_at) - timedelta(seconds=2)))
        try:
            async for message in channel.history(limit=HISTORY_LOOKUP, after=since, oldest_first=True):
                metadata = message.interaction_metadata
                if metadata is not None and str(metadata.id) == op.interaction_id:
                    return message
        except discord.HTTPException as exc:
            log.warning("could not look for the message of %s: %s", op.id, exc)
        return None

    async def _announce(self) -> int:
        posted = 0
        config = self._app.config
        for item in await self._app.store.unposted():
            channel: discord.abc.Messageable | None = (
                self._client.get_partial_messageable(int(item.target)) if item.target is not None
                else resolve_channel(self._client, config.guild.id, config.channels.deployments))
            if channel is None:
                if self._client.is_ready():
                    log.warning("the deployments channel %r was not found; could not post: %s",
                                config.channels.deployments, item.text)
                    await self._app.store.apply(Change.of(MarkAnnounced(item.id)))
                continue  # before the guild is known the channel cannot be resolved: next pass
            content, allowed = notice(item.text, item.ping_user)
            reference = (discord.MessageReference(message_id=int(item.reply_to), channel_id=int(item.target),
                                                  fail_if_not_exists=False)
                         if item.reply_to and item.target else None)
            try:
                await channel.send(content, allowed_mentions=allowed, reference=reference)  # type: ignore[arg-type]
            except discord.HTTPException as exc:
                log.warning("could not post announcement %d (%s); retrying later", item.id, exc)
                break
            await self._app.store.apply(Change.of(MarkAnnounced(item.id)))
            posted += 1
        return posted
