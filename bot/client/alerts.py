"""The alerts channel (`[alerts] channel`) where `notify` rules post (the alert receiver's `AlertChannel`)."""

from __future__ import annotations

import discord

from bot.client.guild import resolve_channel
from bot.config import OpscordConfig
from bot.errors import ValidationFailed

_NONE = discord.AllowedMentions.none()


class DiscordAlertChannel:
    """Posts to the configured alerts channel of the guild."""

    def __init__(self, client: discord.Client, config: OpscordConfig) -> None:
        self._client = client
        self._config = config

    async def post(self, text: str) -> None:
        """One message, no pings; raises when the channel is unknown or Discord refuses."""
        ref = self._config.alerts.channel if self._config.alerts is not None else "alerts"
        channel = resolve_channel(self._client, self._config.guild.id, ref)
        if channel is None:
            raise ValidationFailed(f"The alerts channel {ref!r} was not found; check [alerts] channel in the config.")
        await channel.send(text[:2000], allowed_mentions=_NONE)
