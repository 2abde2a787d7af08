"""Break-glass reviews in the audit channel: each review's message, kept as the store says, and its reminder.

A review opened by a break-glass operation is posted to the audit channel (calling on the
reviewer roles, and nobody else, with its Acknowledge button), edited whenever it changes (an
acknowledgement, closing, overdue), and once it is overdue a reminder is posted as a reply to it,
pinging the reviewers again. Which message shows which review is in the store; a message whose id
was not stored (a crash right after posting) is found again in the channel: the review's by its
button, the reminder as the reply to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import discord

from bot.client.cards import Rendered, role_ids
from bot.client.guild import resolve_channel
from bot.pipeline.breakglass import reminder_text, review_card
from bot.store import Change, Review
from bot.store.changes import UpdateReview
from bot.times import parse_iso

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("bot.client")
IDLE_SECONDS = 2.0
HISTORY_LOOKUP = 200


class ReviewSync:
    """Posts, edits and reminds; run `run()` as a background task."""

    def __init__(self, client: discord.Client, app: App) -> None:
        self._client = client
        self._app = app
        self._lock = asyncio.Lock()

    async def run(self) -> None:
        """Flush whenever a review changed, and every few seconds regardless (overdue ones change with time)."""
        changed = self._app.pipeline.reviews_changed
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), IDLE_SECONDS)
            changed.clear()
            try:
                await self.flush()
            except (OSError, TimeoutError) as exc:  # the store or Discord out of reach for a moment
                log.warning("could not bring break-glass reviews up to date (%s); trying again shortly", exc)
            except Exception:
                log.exception("bringing break-glass reviews up to date failed; trying again shortly")

    async def flush(self) -> int:
        """Bring every lagging review message (and due reminder) up to date; how many were."""
        async with self._lock:
            config = self._app.config
            channel = resolve_channel(self._client, config.guild.id, config.channels.audit)
            if channel is None:
                return 0  # before the guild is known; the next pass
            done = 0
            for review in await self._app.store.unshown_reviews():
                try:
                    done += await self._show(channel, review)
                except discord.HTTPException as exc:
                    log.warning("could not show the break-glass review of %s (%s); retrying", review.op_id, exc)
            return done

    async def _show(self, channel: discord.TextChannel, review: Review) -> int:
        shown = Rendered(self._client, self._app.config, review_card(review))
        fields: dict[str, str] = {}
        if review.message_id is None:
            message = await self._find(channel, review)
            if message is None:
                assert shown.view is not None  # a review's card always has its button
                message = await channel.send(shown.content, view=shown.view, allowed_mentions=shown.allowed_mentions)
            else:
                await message.edit(content=shown.content, view=shown.view, allowed_mentions=shown.allowed_mentions)
            fields = {"message_channel_id": str(channel.id), "message_id": str(message.id)}
        elif review.shown_revision < review.revision:
            partial = channel.get_partial_message(int(review.message_id))
            await partial.edit(content=shown.content, view=shown.view, allowed_mentions=shown.allowed_mentions)
        if review.reminded_at is not None and review.reminder_id is None and review.closed_at is None:
            reminder = await self._find_reminder(channel, review) or await self._remind(
                channel, review, fields.get("message_id"))
            fields["reminder_id"] = str(reminder.id)
        elif review.reminded_at is not None and review.reminder_id is None:
            fields["reminder_id"] = "0"  # closed before the reminder went out: none is needed
        await self._app.store.apply(Change.of(UpdateReview(review.op_id, fields, shown_revision=review.revision)))
        return 1

    async def _remind(self, channel: discord.TextChannel, review: Review, message_id: str | None) -> discord.Message:
        roles = role_ids(self._client, self._app.config, review.reviewer_roles)
        calls = " ".join(f"<@&{role}>" for role in roles)
        allowed = discord.AllowedMentions(everyone=False, users=False, replied_user=False,
                                          roles=[discord.Object(r) for r in roles])
        target = message_id or review.message_id
        reference = (discord.MessageReference(message_id=int(target), channel_id=channel.id, fail_if_not_exists=False)
                     if target else None)
        text = reminder_text(review) + (f"\n{calls}" if calls else "")
        return await channel.send(text[:2000], allowed_mentions=allowed,
                                  reference=reference)  # type: ignore[arg-type]

    async def _find(self, channel: discord.TextChannel, review: Review) -> discord.Message | None:
        """A message posted for this review before a crash kept its id from the store: found by its button."""
        wanted = f"opscord:acknowledge:{review.op_id}"
        return await self._mine(channel, review.opened_at, lambda m: any(
            getattr(child, "custom_id", None) == wanted for row in m.components
            for child in getattr(row, "children", [])))

    async def _find_reminder(self, channel: discord.TextChannel, review: Review) -> discord.Message | None:
        """The reminder, when it was posted before a restart kept its id from the store: the reply to the review."""
        assert review.reminded_at is not None
        return await self._mine(channel, review.reminded_at, lambda m: (
            m.content.startswith("⏰") and m.reference is not None
            and str(m.reference.message_id) == str(review.message_id)))

    async def _mine(self, channel: discord.TextChannel, since_text: str,
                    match: Callable[[discord.Message], bool]) -> discord.Message | None:
        since = discord.Object(discord.utils.time_snowflake(parse_iso(since_text) - timedelta(seconds=2)))
        me = self._client.user
        async for message in channel.history(limit=HISTORY_LOOKUP, after=since, oldest_first=True):
            if me is not None and message.author.id == me.id and match(message):
                return message
        return None
