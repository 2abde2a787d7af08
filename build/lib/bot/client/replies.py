"""How a new request's first message reaches the channel: the interaction's response."""

from __future__ import annotations

from typing import Any

import discord

from bot.client.buttons import view_for
from bot.pipeline import Card, MessageRef

_NONE = discord.AllowedMentions.none()


class InteractionReply:
    """Answers a slash command with the request's card (the pipeline's `FirstReply`)."""

    def __init__(self, interaction: discord.Interaction[Any]) -> None:
        self._interaction = interaction

    async def show(self, card: Card) -> MessageRef | None:
        """Send the card; the message it became, from the callback's own answer (no extra request)."""
        view = view_for(card)
        kwargs: dict[str, Any] = {"view": view} if view is not None else {}
        sent = await self._interaction.response.send_message(card.text[:2000], allowed_mentions=_NONE, **kwargs)
        message = sent.resource if sent is not None else None
        if isinstance(message, discord.InteractionMessage):
            return MessageRef(str(message.channel.id), str(message.id))
        original = await self._interaction.original_response()
        return MessageRef(str(original.channel.id), str(original.id))
