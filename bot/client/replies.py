"""How a new request's first message reaches the channel: the interaction's response."""

from __future__ import annotations

from typing import Any

import discord

from bot.client.cards import Rendered
from bot.client.reactions import add_reactions
from bot.pipeline import Card, MessageRef


class InteractionReply:
    """Answers a slash command with the request's card (the pipeline's `FirstReply`)."""

    def __init__(self, interaction: discord.Interaction[Any]) -> None:
        self._interaction = interaction

    async def show(self, card: Card) -> MessageRef | None:
        """Send the card (calling on its approvers); the message it became, from the callback's own answer."""
        from bot.client.bot import app_of

        shown = Rendered(self._interaction.client, app_of(self._interaction.client).config, card)
        kwargs: dict[str, Any] = {"view": shown.view} if shown.view is not None else {}
        sent = await self._interaction.response.send_message(shown.content, allowed_mentions=shown.allowed_mentions,
                                                             **kwargs)
        message = sent.resource if sent is not None else None
        if not isinstance(message, discord.InteractionMessage):
            message = await self._interaction.original_response()
        return MessageRef(str(message.channel.id), str(message.id))

    async def recorded(self, card: Card, where: MessageRef) -> None:
        """An approval request's message is on record: put ✅ and ❌ under it (reactions count like buttons)."""
        if card.buttons == "approval":
            channel = self._interaction.client.get_partial_messageable(int(where.channel_id))
            await add_reactions(channel.get_partial_message(int(where.message_id)))
