"""The emulated guild: users, members, roles, channels and threads, messages, scheduled events.

These are plain records that tests read. Their JSON payloads are built in :mod:`payloads`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.emulator.snowflake import iso_now

JSON = dict[str, Any]
"""A decoded JSON object."""

EPHEMERAL_FLAG = 1 << 6
LOADING_FLAG = 1 << 7
COMPONENTS_V2_FLAG = 1 << 15

TEXT_CHANNEL = 0
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREAD_TYPES = frozenset({10, PUBLIC_THREAD, PRIVATE_THREAD})

ADD_REACTIONS = 1 << 6
DEFAULT_EVERYONE_PERMISSIONS = (
    ADD_REACTIONS
    | (1 << 10)  # view channel
    | (1 << 11)  # send messages
    | (1 << 14)  # embed links
    | (1 << 15)  # attach files
    | (1 << 16)  # read message history
    | (1 << 31)  # use application commands
    | (1 << 35)  # create public threads
    | (1 << 38)  # send messages in threads
)
ADMINISTRATOR = 1 << 3
ALL_PERMISSIONS = (1 << 51) - 1


@dataclass
class User:
    """A Discord user; the bot is one too (``bot=True``)."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None


@dataclass
class Role:
    """A guild role. The ``@everyone`` role has the guild's id."""

    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False


@dataclass
class Member:
    """A user's membership of one guild, with role ids (``@everyone`` implied)."""

    user: User
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = field(default_factory=iso_now)

    @property
    def id(self) -> int:
        """The member's user id."""
        return self.user.id

    @property
    def username(self) -> str:
        """The member's username."""
        return self.user.username


@dataclass
class Channel:
    """A guild text channel, or a thread (a channel with a parent and thread metadata)."""

    id: int
    guild_id: int
    name: str
    type: int = TEXT_CHANNEL
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    invitable: bool = True
    auto_archive_duration: int = 1440
    archive_timestamp: str = field(default_factory=iso_now)
    created_at: str = field(default_factory=iso_now)
    message_count: int = 0
    last_message_id: int | None = None
    starter_message_id: int | None = None

    @property
    def is_thread(self) -> bool:
        """Whether this channel is a thread."""
        return self.type in THREAD_TYPES


@dataclass
class Guild:
    """A guild with its roles, channels (threads included) and members, keyed by id."""

    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)


@dataclass
class Message:
    """A message as the emulator stored it; ``embeds`` and ``components`` are kept as received.

    ``attachments`` holds dicts with ``id``, ``filename``, ``content`` (the uploaded bytes),
    ``size``, ``content_type``, ``description`` and ``url``. ``reactions`` maps each emoji (unicode,
    or ``name:id``) to the ids of the users who reacted with it, in order. ``interaction_metadata``
    is set, once and for all, on the messages an interaction's responses created.
    """

    id: int
    channel_id: int
    guild_id: int | None
    author_id: int
    content: str = ""
    embeds: list[JSON] = field(default_factory=list)
    components: list[JSON] = field(default_factory=list)
    attachments: list[JSON] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: JSON | None = None
    ephemeral_for: int | None = None
    interaction_id: int | None = None
    webhook_id: int | None = None
    type: int = 0
    tts: bool = False
    message_reference: JSON | None = None
    edited: int = 0
    edited_at: str | None = None
    created_at: str = field(default_factory=iso_now)
    pinned: bool = False
    deleted: bool = False
    thread_id: int | None = None
    reactions: dict[str, list[int]] = field(default_factory=dict)
    interaction_metadata: JSON | None = None

    @property
    def ephemeral(self) -> bool:
        """Whether only one user (``ephemeral_for``) can see this message."""
        return bool(self.flags & EPHEMERAL_FLAG)

    @property
    def loading(self) -> bool:
        """Whether this is a deferred response still showing "thinking…"."""
        return bool(self.flags & LOADING_FLAG)

    def has_body(self) -> bool:
        """Whether the message shows anything: content, embeds, attachments or v2 components."""
        v2 = bool(self.flags & COMPONENTS_V2_FLAG) and bool(self.components)
        return bool(self.content or self.embeds or self.attachments or v2)

    def walk_components(self) -> list[JSON]:
        """Every component of the message, containers first, depth first."""
        found: list[JSON] = []

        def walk(items: list[JSON]) -> None:
            for item in items:
                found.append(item)
                walk(list(item.get("components") or []))
                for key in ("component", "accessory"):
                    if isinstance(item.get(key), dict):
                        walk([item[key]])

        walk(self.components)
        return found

    def buttons(self) -> list[JSON]:
        """The message's buttons, flattened: ``custom_id``, ``label``, ``style``, ``disabled``, ``url``."""
        return [
            {
                "custom_id": item.get("custom_id"),
                "label": item.get("label"),
                "style": item.get("style"),
                "disabled": bool(item.get("disabled", False)),
                "url": item.get("url"),
            }
            for item in self.walk_components()
            if item.get("type") == 2
        ]

    def find_component(self, custom_id: str) -> JSON | None:
        """The interactive component with ``custom_id``, or None."""
        for item in self.walk_components():
            if item.get("custom_id") == custom_id and item.get("type") != 1:
                return item
        return None


@dataclass
class Upload:
    """A file part of a multipart request: ``files[index]`` with its name and bytes."""

    index: int
    filename: str
    content: bytes
    content_type: str | None = None


@dataclass
class ScheduledEvent:
    """A guild scheduled event as created by the bot."""

    id: int
    guild_id: int
    name: str
    entity_type: int
    scheduled_start_time: str
    creator_id: int
    privacy_level: int = 2
    status: int = 1
    description: str | None = None
    channel_id: int | None = None
    scheduled_end_time: str | None = None
    entity_metadata: JSON | None = None
