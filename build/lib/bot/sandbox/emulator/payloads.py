"""JSON payloads for the emulated objects, shaped the way discord.py's parsers read them.

discord.py indexes many keys directly (``data['flags']`` on a member, ``data['version']`` on an
interaction, ``thread_metadata`` on a thread): a missing key raises inside the gateway reader and
stops the bot, so these builders always emit the full set.
"""

from __future__ import annotations

from bot.sandbox.emulator.models import (
    JSON,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    ScheduledEvent,
    User,
)
from bot.sandbox.emulator.reactions import reactions_payload
from bot.sandbox.emulator.snowflake import iso_now


def user_payload(user: User) -> JSON:
    """A user object."""
    return {
        "id": str(user.id),
        "username": user.username,
        "global_name": user.global_name,
        "discriminator": "0",
        "avatar": None,
        "bot": user.bot,
        "public_flags": 0,
    }


def role_payload(role: Role) -> JSON:
    """A role object."""
    return {
        "id": str(role.id),
        "name": role.name,
        "permissions": str(role.permissions),
        "position": role.position,
        "color": role.color,
        "colors": {"primary_color": role.color, "secondary_color": None, "tertiary_color": None},
        "hoist": role.hoist,
        "managed": role.managed,
        "mentionable": role.mentionable,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }


def member_payload(member: Member, *, permissions: int | None = None) -> JSON:
    """A guild member with its user; ``permissions`` is added for interaction payloads."""
    data: JSON = {
        "user": user_payload(member.user),
        "roles": [str(role_id) for role_id in member.roles],
        "nick": member.nick,
        "avatar": None,
        "joined_at": member.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def channel_payload(channel: Channel, *, permissions: int | None = None) -> JSON:
    """A guild channel, or a thread with its ``thread_metadata``."""
    data: JSON = {
        "id": str(channel.id),
        "guild_id": str(channel.guild_id),
        "type": channel.type,
        "name": channel.name,
        "position": channel.position,
        "parent_id": str(channel.parent_id) if channel.parent_id else None,
        "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
        "rate_limit_per_user": 0,
        "flags": 0,
        "nsfw": False,
    }
    if channel.is_thread:
        data.update(
            {
                "owner_id": str(channel.owner_id),
                "message_count": channel.message_count,
                "total_message_sent": channel.message_count,
                "member_count": 1,
                "thread_metadata": {
                    "archived": channel.archived,
                    "locked": channel.locked,
                    "invitable": channel.invitable,
                    "auto_archive_duration": channel.auto_archive_duration,
                    "archive_timestamp": channel.archive_timestamp,
                    "create_timestamp": channel.created_at,
                },
            }
        )
    else:
        data.update({"topic": channel.topic, "permission_overwrites": [], "default_auto_archive_duration": 1440})
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def attachment_payload(attachment: JSON) -> JSON:
    """An attachment object (the stored bytes stay out of it)."""
    return {key: value for key, value in attachment.items() if key != "content"}


def message_payload(message: Message, author: User, *, me_id: int, thread: Channel | None = None) -> JSON:
    """A message object as ``me_id`` (the bot) sees it; ``thread`` is the thread started from it, if any."""
    data: JSON = {
        "id": str(message.id),
        "channel_id": str(message.channel_id),
        "type": message.type,
        "content": message.content,
        "author": user_payload(author),
        "embeds": message.embeds,
        "components": message.components,
        "attachments": [attachment_payload(a) for a in message.attachments],
        "flags": message.flags,
        "tts": message.tts,
        "timestamp": message.created_at,
        "edited_timestamp": message.edited_at,
        "pinned": message.pinned,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
    }
    if message.guild_id is not None:
        data["guild_id"] = str(message.guild_id)
    if message.webhook_id is not None:
        data["webhook_id"] = str(message.webhook_id)
        data["application_id"] = str(message.webhook_id)
    if message.message_reference is not None:
        data["message_reference"] = message.message_reference
    if thread is not None:
        data["thread"] = channel_payload(thread)
    if message.reactions:
        data["reactions"] = reactions_payload(message, me_id)
    if message.interaction_metadata is not None:
        data["interaction_metadata"] = message.interaction_metadata
    return data


def scheduled_event_payload(event: ScheduledEvent, creator: User) -> JSON:
    """A guild scheduled event object."""
    return {
        "id": str(event.id),
        "guild_id": str(event.guild_id),
        "channel_id": str(event.channel_id) if event.channel_id else None,
        "creator_id": str(event.creator_id),
        "creator": user_payload(creator),
        "name": event.name,
        "description": event.description,
        "scheduled_start_time": event.scheduled_start_time,
        "scheduled_end_time": event.scheduled_end_time,
        "privacy_level": event.privacy_level,
        "status": event.status,
        "entity_type": event.entity_type,
        "entity_id": None,
        "entity_metadata": event.entity_metadata,
        "user_count": 0,
        "image": None,
    }


def guild_payload(guild: Guild) -> JSON:
    """A REST guild object (roles included, no channels or members)."""
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "features": [],
        "emojis": [],
        "stickers": [],
        "roles": [role_payload(role) for role in guild.roles.values()],
    }


def guild_create_payload(guild: Guild, events: list[JSON]) -> JSON:
    """The GUILD_CREATE dispatch: the guild with channels, active threads and every member.

    ``member_count`` equals the number of members sent, so the client considers the guild
    chunked and does not have to ask for members.
    """
    data = guild_payload(guild)
    channels = [c for c in guild.channels.values() if not c.is_thread]
    threads = [c for c in guild.channels.values() if c.is_thread and not c.archived]
    data.update(
        {
            "unavailable": False,
            "large": False,
            "joined_at": iso_now(),
            "member_count": len(guild.members),
            "channels": [channel_payload(c) for c in channels],
            "threads": [channel_payload(t) for t in threads],
            "members": [member_payload(m) for m in guild.members.values()],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": events,
            "soundboard_sounds": [],
        }
    )
    return data
