"""The configured guild as the services need it: members' current roles, channels, incident threads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import discord

from bot.client.calls import actor_of
from bot.config import OpscordConfig, RoleRef
from bot.errors import ValidationFailed
from bot.incidents import Opened
from bot.pipeline import Actor

_NONE = discord.AllowedMentions.none()
log = logging.getLogger("bot.client")
T = TypeVar("T")
RATE_LIMITED_WAITS = (1.0, 2.0, 4.0)
"""Seconds to wait before trying again a request that discord.py gave up on after five 429s in a row."""


async def patiently(what: str, request: Callable[[], Awaitable[T]]) -> T:
    """`request()`, tried again while Discord answers 429 (a rate-limited request was not carried out, so it is
    safe to repeat); any other failure, or the last 429, is raised."""
    for wait in RATE_LIMITED_WAITS:
        try:
            return await request()
        except discord.HTTPException as exc:
            if exc.status != 429:
                raise
            log.warning("Discord kept rate-limiting %s; trying again in %.0f s", what, wait)
            await asyncio.sleep(wait)
    return await request()


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
    """Incident threads and postmortem events in the configured guild (the incidents' `IncidentRoom`).

    Nothing it sends pings anyone, except the announcement of a new incident, whose
    `allowed_mentions` names exactly the on-call role (and no user, no @everyone).
    """

    def __init__(self, client: discord.Client, config: OpscordConfig) -> None:
        self._client = client
        self._config = config

    def role_id(self, ref: RoleRef) -> str | None:
        """The guild role a config reference names (by id, else by name), as an id."""
        guild = self._client.get_guild(self._config.guild.id)
        if guild is None:
            return None
        if isinstance(ref, int) or ref.isdigit():
            role = guild.get_role(int(ref))
        else:
            role = discord.utils.get(guild.roles, name=ref.lstrip("@"))
        return str(role.id) if role is not None else None

    async def open(self, name: str, announcement: str, ping_role: str | None) -> Opened:
        """Announce in the incidents channel (pinging `ping_role` only) and start a public thread from it."""
        ref = self._config.channels.incidents
        channel = resolve_channel(self._client, self._config.guild.id, ref)
        if channel is None:
            raise ValidationFailed(f"The incidents channel {ref!r} was not found; check [channels] in the config.")
        mentions = _NONE if ping_role is None else discord.AllowedMentions(
            everyone=False, users=False, roles=[discord.Object(id=int(ping_role))], replied_user=False)
        message = await patiently("the incident announcement", lambda: channel.send(announcement[:2000],
                                                                                   allowed_mentions=mentions))
        thread = await patiently("the incident thread", lambda: message.create_thread(name=name[:100],
                                                                                     auto_archive_duration=1440))
        return Opened(thread_id=str(thread.id), channel_id=str(channel.id), message_id=str(message.id))

    async def edit(self, channel_id: str, message_id: str, content: str) -> None:
        """Edit one of the bot's messages (the announcement, the opener)."""
        message = self._client.get_partial_messageable(int(channel_id)).get_partial_message(int(message_id))
        await patiently("an incident message edit", lambda: message.edit(content=content[:2000],
                                                                         allowed_mentions=_NONE))

    async def post(self, thread_id: str, content: str, *, pin: bool = False) -> str:
        """Post in the incident's thread, pinned if asked."""
        thread = self._client.get_partial_messageable(int(thread_id))
        message = await patiently("a post in the incident thread", lambda: thread.send(content[:2000],
                                                                                       allowed_mentions=_NONE))
        if pin:
            await patiently("the pin", lambda: message.pin(reason="The incident's opening message"))
        return str(message.id)

    async def schedule(self, name: str, start: datetime, end: datetime, location: str, description: str) -> str:
        """An external scheduled event (the postmortem)."""
        guild = self._client.get_guild(self._config.guild.id)
        if guild is None:
            raise ValidationFailed("The configured guild is not available.")
        event = await patiently("the postmortem event", lambda: guild.create_scheduled_event(
            name=name[:100], start_time=start, end_time=end, entity_type=discord.EntityType.external,
            privacy_level=discord.PrivacyLevel.guild_only, location=location[:100], description=description[:1000]))
        return str(event.id)
