"""The configured guild as the services need it: members' current roles, channels, incident threads."""

from __future__ import annotations

from datetime import datetime

import discord

from bot.client.calls import actor_of
from bot.config import OpscordConfig
from bot.errors import ValidationFailed
from bot.pipeline import Actor

_NONE = discord.AllowedMentions.none()


class GuildMembers:
    """Members' current roles, from the gateway's cache or Discord's API (the pipeline's `Members`)."""

    def __init__(self, client: discord.Client, guild_id: int) -> None:
        self._client = client
        self._guild_id = guild_id

    async def actor(self, member_id: str) -> Actor | None:
        """The member as they are now; None when they left (or the id is not a member id)."""
        if not member_id.isdigit():
            return None
        guild = self._client.get_guild(self._guild_id)
        if guild is None:
            return None
        member = guild.get_member(int(member_id))
        if member is None:
            try:
                member = await guild.fetch_member(int(member_id))
            except discord.HTTPException:
                return None
        return actor_of(member)


def resolve_channel(client: discord.Client, guild_id: int, ref: str | int) -> discord.TextChannel | None:
    """A text channel of the guild by name or id."""
    guild = client.get_guild(guild_id)
    if guild is None:
        return None
    if isinstance(ref, int) or str(ref).isdigit():
        channel = guild.get_channel(int(ref))
        return channel if isinstance(channel, discord.TextChannel) else None
    return discord.utils.get(guild.text_channels, name=str(ref).lstrip("#"))


class DiscordIncidentRoom:
    """Incident threads and postmortem events in the configured guild (the incidents' `IncidentRoom`)."""

    def __init__(self, client: discord.Client, config: OpscordConfig) -> None:
        self._client = client
        self._config = config

    async def open(self, name: str, announcement: str) -> str:
        """Announce in the incidents channel and start a public thread from that message."""
        ref = self._config.channels.incidents
        channel = resolve_channel(self._client, self._config.guild.id, ref)
        if channel is None:
            raise ValidationFailed(f"The incidents channel {ref!r} was not found; check [channels] in the config.")
        message = await channel.send(announcement[:2000], allowed_mentions=_NONE)
        thread = await message.create_thread(name=name[:100], auto_archive_duration=1440)
        return str(thread.id)

    async def post(self, thread_id: str, text: str) -> None:
        """Post in the incident's thread."""
        await self._client.get_partial_messageable(int(thread_id)).send(text[:2000], allowed_mentions=_NONE)

    async def schedule(self, name: str, start: datetime, end: datetime, location: str, description: str) -> str:
        """An external scheduled event (the postmortem)."""
        guild = self._client.get_guild(self._config.guild.id)
        if guild is None:
            raise ValidationFailed("The configured guild is not available.")
        event = await guild.create_scheduled_event(
            name=name[:100], start_time=start, end_time=end, entity_type=discord.EntityType.external,
            privacy_level=discord.PrivacyLevel.guild_only, location=location[:100], description=description[:1000])
        return str(event.id)
