"""✅ and ❌ reactions on a request's message count exactly like its Approve and Reject buttons.

Same rules, same audit rows: the pipeline decides a reaction as it decides a click (approver
roles, no self-approval, N distinct people, expiry, a repeat changes nothing). A reaction that
does not count is taken off again, and its row says why; one that counts edits the message.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import discord

from bot.client.calls import actor_of
from bot.client.cards import Rendered
from bot.pipeline import Card, Click, Invocation, MessageRef
from bot.pipeline.types import ClickKind

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger("bot.client")
APPROVE, REJECT = "✅", "❌"
KINDS: dict[str, ClickKind] = {APPROVE: "approve", REJECT: "reject"}


class ReactionReply:
    """Answers a reaction: the message becomes the request's new card, or the reaction is taken off."""

    def __init__(self, client: discord.Client, app: App, payload: discord.RawReactionActionEvent) -> None:
        self._client = client
        self._app = app
        self._payload = payload

    def _message(self) -> discord.PartialMessage:
        channel = self._client.get_partial_messageable(self._payload.channel_id)
        return channel.get_partial_message(self._payload.message_id)

    async def update(self, card: Card) -> None:
        """Edit the request's message to its new card."""
        shown = Rendered(self._client, self._app.config, card)
        await self._message().edit(content=shown.content, view=shown.view, allowed_mentions=shown.allowed_mentions)

    async def tell(self, sentence: str) -> None:
        """The reaction does not count: take it off (the audit row holds the sentence)."""
        try:
            await self._message().remove_reaction(self._payload.emoji, discord.Object(self._payload.user_id))
        except discord.HTTPException as exc:
            log.info("could not take off a reaction that did not count (%s): %s", sentence, exc)


async def add_reactions(message: discord.PartialMessage | discord.Message) -> None:
    """Put ✅ and ❌ under an approval request so members can react instead of clicking."""
    for emoji in (APPROVE, REJECT):
        try:
            await message.add_reaction(emoji)
        except discord.HTTPException as exc:
            log.warning("could not add the %s reaction to a request: %s", emoji, exc)


async def on_reaction(client: discord.Client, app: App, payload: discord.RawReactionActionEvent) -> None:
    """A member reacted: if it is ✅ or ❌ on a request's message, decide it like a click."""
    kind = KINDS.get(str(payload.emoji))
    if kind is None or payload.member is None or payload.user_id == getattr(client.user, "id", None):
        return
    op = await app.store.operation_by_message(str(payload.message_id))
    if op is None:
        return
    channel = client.get_channel(payload.channel_id)
    call = Invocation(actor=actor_of(payload.member), command=f"react {payload.emoji} on {op.id}",
                      guild_id=str(payload.guild_id) if payload.guild_id else None,
                      channel_id=str(payload.channel_id), channel_name=getattr(channel, "name", None),
                      received_at=datetime.now(UTC))
    click = Click(op.id, kind, call, MessageRef(str(payload.channel_id), str(payload.message_id)))
    try:
        await app.pipeline.click(click, ReactionReply(client, app, payload))
    except Exception:
        log.exception("handling a %s reaction on %s failed", payload.emoji, op.id)
