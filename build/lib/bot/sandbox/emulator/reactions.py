"""Reactions: who reacted with which emoji, the counts a message shows, and the gateway events.

An emoji is kept as discord.py puts it in the URL: the unicode character(s), or ``name:id`` for a
custom emoji. :attr:`Message.reactions` maps each emoji to the ids of the users who reacted, in
order; an emoji nobody reacts with any more disappears, as on Discord.

``MESSAGE_REACTION_*`` events need the ``GUILD_MESSAGE_REACTIONS`` intent (the gateway filters
them); ``MESSAGE_REACTION_ADD`` carries the reactor's ``member`` (with ``user``) and the message's
author (``message_author_id``), ``MESSAGE_REACTION_REMOVE`` neither, as Discord documents them.
"""

from __future__ import annotations

from bot.sandbox.emulator.models import JSON, Message

MAX_REACTIONS = 20
"""Distinct emoji a message may carry (Discord error 30010 beyond)."""
NORMAL = 0
"""Reaction type 0; 1 is a burst ("super") reaction, which the emulator does not make."""


def emoji_key(raw: str) -> str:
    """The stored form of an emoji: unicode as is, a custom emoji (``<:name:id>``, ``a:name:id``) as ``name:id``."""
    text = raw.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1]
    parts = text.split(":")
    if len(parts) == 3 and parts[0] in ("", "a") and parts[2].isdigit():
        parts = parts[1:]
    if len(parts) == 2 and parts[1].isdigit() and parts[0]:
        return f"{parts[0]}:{parts[1]}"
    if not text or ":" in text:
        raise ValueError(f"{raw!r} is neither a unicode emoji nor a custom emoji (name:id)")
    return text


def emoji_payload(key: str) -> JSON:
    """A partial emoji: ``{"id": None, "name": "✅"}``, or the custom emoji's id and name."""
    name, _, emoji_id = key.partition(":")
    if emoji_id.isdigit():
        return {"id": emoji_id, "name": name, "animated": False}
    return {"id": None, "name": key}


def reactions_payload(message: Message, me_id: int) -> list[JSON]:
    """The message's ``reactions`` array; ``me`` says whether ``me_id`` (the bot) is among the reactors."""
    return [
        {
            "emoji": emoji_payload(key),
            "count": len(users),
            "count_details": {"burst": 0, "normal": len(users)},
            "me": me_id in users,
            "me_burst": False,
            "burst_colors": [],
        }
        for key, users in message.reactions.items()
    ]


def record_reaction(message: Message, user_id: int, key: str) -> bool:
    """Add ``user_id`` to the emoji's reactors; False if they had already reacted with it."""
    users = message.reactions.setdefault(key, [])
    if user_id in users:
        return False
    users.append(user_id)
    return True


def drop_reaction(message: Message, user_id: int, key: str) -> bool:
    """Remove ``user_id`` from the emoji's reactors; False if they had not reacted with it."""
    users = message.reactions.get(key, [])
    if user_id not in users:
        return False
    users.remove(user_id)
    if not users:
        del message.reactions[key]
    return True


def reaction_event(message: Message, user_id: int, key: str, *, added: bool, member: JSON | None) -> JSON:
    """The ``MESSAGE_REACTION_ADD`` (``added``) or ``MESSAGE_REACTION_REMOVE`` body."""
    data: JSON = {
        "user_id": str(user_id),
        "channel_id": str(message.channel_id),
        "message_id": str(message.id),
        "emoji": emoji_payload(key),
        "burst": False,
        "type": NORMAL,
    }
    if message.guild_id is not None:
        data["guild_id"] = str(message.guild_id)
    if added:
        data["message_author_id"] = str(message.author_id)
        data["burst_colors"] = []
        if member is not None:
            data["member"] = member
    return data


def clear_event(message: Message, key: str | None) -> JSON:
    """The ``MESSAGE_REACTION_REMOVE_EMOJI`` body (one emoji cleared) or, without ``key``, ``..._REMOVE_ALL``."""
    data: JSON = {"message_id": str(message.id), "channel_id": str(message.channel_id)}
    if message.guild_id is not None:
        data["guild_id"] = str(message.guild_id)
    if key is not None:
        data["emoji"] = emoji_payload(key)
    return data
