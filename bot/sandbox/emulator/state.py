"""The emulator's store: everything the bot created, with change notification for waiting tests.

Mutations that Discord would announce on the gateway (messages, threads, events) are dispatched
through :attr:`EmulatorState.dispatch`, which the gateway hub fills in.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from bot.sandbox.emulator.mentions import pings
from bot.sandbox.emulator.models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    JSON,
    LOADING_FLAG,
    Channel,
    Guild,
    Message,
    ScheduledEvent,
    Upload,
    User,
)
from bot.sandbox.emulator.payloads import channel_payload, member_payload, message_payload, role_payload, user_payload
from bot.sandbox.emulator.ratelimits import RateLimiter
from bot.sandbox.emulator.reactions import clear_event, drop_reaction, reaction_event, record_reaction
from bot.sandbox.emulator.snowflake import SnowflakeFactory, iso_now

if TYPE_CHECKING:
    from bot.sandbox.emulator.interactions import InteractionHandle

T = TypeVar("T")
KEPT_FLAGS = 64 | LOADING_FLAG
POLL_S = 0.05


class EmulatorState:
    """Guilds, messages, commands, interactions, armed rate limits and the record of refused requests."""

    def __init__(self, bot_token: str, bot_name: str = "Opscord") -> None:
        """Create the application, its bot user and its owner."""
        self.ids = SnowflakeFactory()
        self.bot_token = bot_token
        self.application_id = self.ids.next()
        self.bot_user = User(id=self.application_id, username=bot_name, bot=True)
        self.owner = User(id=self.ids.next(), username="emulator-owner")
        self.users: dict[int, User] = {self.bot_user.id: self.bot_user, self.owner.id: self.owner}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.channel_messages: dict[int, list[Message]] = {}
        self.guild_commands: dict[int, list[JSON]] = {}
        self.global_commands: list[JSON] = []
        self.global_command_puts = 0
        self.scheduled_events: dict[int, ScheduledEvent] = {}
        self.pins: dict[int, list[int]] = {}
        self.pinned_at: dict[int, str] = {}
        self.interactions: dict[int, InteractionHandle] = {}
        self.interaction_tokens: dict[str, InteractionHandle] = {}
        self.violations: list[str] = []
        self.members_intent = True
        """Whether the application may use the privileged Server Members intent (the developer portal's switch)."""
        self.rate_limits = RateLimiter()
        self.files: dict[str, bytes] = {}
        self.base_url = ""
        self.dispatch: Callable[[str, JSON], None] = lambda event, data: None
        self._changed = asyncio.Condition()

    # -- change notification -------------------------------------------------------------------

    async def notify(self) -> None:
        """Wake every :meth:`wait_until` so it re-evaluates its predicate."""
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, predicate: Callable[[], T | None], timeout: float = 5.0, what: str = "") -> T:  # noqa: ASYNC109
        """Return the first truthy value of ``predicate``, re-evaluated on every state change.

        It is also re-evaluated every ``POLL_S`` so predicates on the bot's own state work too.
        """
        try:
            async with asyncio.timeout(timeout), self._changed:
                while not (result := predicate()):
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(POLL_S):
                            await self._changed.wait()
                return result
        except TimeoutError:
            raise TimeoutError(f"emulator: timed out after {timeout}s waiting for {what or predicate}") from None

    def bot_in(self, guild_id: int) -> bool:
        """Whether the bot was invited to (is a member of) the guild."""
        guild = self.guilds.get(guild_id)
        return guild is not None and self.bot_user.id in guild.members

    def violation(self, text: str) -> None:
        """Record a refused request."""
        self.violations.append(text)

    # -- lookups -------------------------------------------------------------------------------

    def guild_of(self, channel_id: int) -> Guild | None:
        """The guild owning a channel or thread."""
        channel = self.channels.get(channel_id)
        return self.guilds.get(channel.guild_id) if channel else None

    def permissions(self, guild_id: int, user_id: int) -> int:
        """A member's guild permissions: the OR of their roles, everything for admins and the owner."""
        guild = self.guilds[guild_id]
        member = guild.members.get(user_id)
        if user_id in (guild.owner_id, self.bot_user.id):
            return ALL_PERMISSIONS
        role_ids = [guild_id, *(member.roles if member else [])]
        value = 0
        for role_id in role_ids:
            role = guild.roles.get(role_id)
            value |= role.permissions if role else 0
        return ALL_PERMISSIONS if value & ADMINISTRATOR else value

    def member_json(self, guild_id: int, user_id: int) -> JSON:
        """The member payload with computed permissions, as interactions carry it."""
        member = self.guilds[guild_id].members[user_id]
        return member_payload(member, permissions=self.permissions(guild_id, user_id))

    def message_json(self, message: Message) -> JSON:
        """The message payload with its author and started thread."""
        author = self.users.get(message.author_id, self.bot_user)
        thread = self.channels.get(message.thread_id) if message.thread_id else None
        return message_payload(message, author, me_id=self.bot_user.id, thread=thread)

    # -- OptionResolver ------------------------------------------------------------------------

    def resolve_user(self, guild_id: int, user_id: int) -> tuple[JSON, JSON | None] | None:
        """User payload plus member payload (no ``user`` key) for command options."""
        user = self.users.get(user_id)
        if user is None:
            return None
        member = self.guilds[guild_id].members.get(user_id)
        if member is None:
            return user_payload(user), None
        data = member_payload(member, permissions=self.permissions(guild_id, user_id))
        del data["user"]
        return user_payload(user), data

    def resolve_channel(self, channel_id: int) -> JSON | None:
        """Channel payload with permissions for command options."""
        channel = self.channels.get(channel_id)
        return channel_payload(channel, permissions=ALL_PERMISSIONS) if channel else None

    def resolve_role(self, guild_id: int, role_id: int) -> JSON | None:
        """Role payload for command options."""
        role = self.guilds[guild_id].roles.get(role_id)
        return role_payload(role) if role else None

    def upload(self, channel_id: int, filename: str, content: bytes) -> JSON:
        """Store a user's uploaded file (an attachment option) and return its payload."""
        attachment = self._attachment(channel_id, Upload(0, filename, content), None)
        return {key: value for key, value in attachment.items() if key != "content"}

    # -- messages ------------------------------------------------------------------------------

    def _attachment(self, channel_id: int, upload: Upload, entry: JSON | None) -> JSON:
        attachment_id = self.ids.next()
        filename = str((entry or {}).get("filename") or upload.filename)
        url = f"{self.base_url}/attachments/{channel_id}/{attachment_id}/{filename}"
        self.files[str(attachment_id)] = upload.content
        return {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(upload.content),
            "content_type": upload.content_type,
            "description": (entry or {}).get("description"),
            "url": url,
            "proxy_url": url,
            "content": upload.content,
        }

    def _attachments(self, channel_id: int, payload: JSON, files: list[Upload], existing: list[JSON]) -> list[JSON]:
        uploads = {u.index: u for u in files}
        if "attachments" not in payload:
            return existing + [self._attachment(channel_id, u, None) for u in files]
        kept = {str(a["id"]): a for a in existing}
        result: list[JSON] = []
        used: set[int] = set()
        for entry in payload.get("attachments") or []:
            key = str(entry.get("id"))
            if key in kept:
                result.append(kept[key])
            elif key.isdigit() and int(key) in uploads:
                used.add(int(key))
                result.append(self._attachment(channel_id, uploads[int(key)], entry))
        result += [self._attachment(channel_id, u, None) for i, u in uploads.items() if i not in used]
        return result

    def _apply(self, message: Message, payload: JSON, files: list[Upload], *, creating: bool) -> None:
        if "content" in payload:
            message.content = payload["content"] or ""
        if "embeds" in payload:
            message.embeds = list(payload["embeds"] or [])
        if "components" in payload:
            message.components = list(payload["components"] or [])
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload["allowed_mentions"]
        if "flags" in payload and payload["flags"] is not None:
            new_flags = int(payload["flags"])
            message.flags = new_flags if creating else (message.flags & KEPT_FLAGS) | (new_flags & ~KEPT_FLAGS)
        message.attachments = self._attachments(message.channel_id, payload, files, message.attachments)

    def create_message(
        self, channel_id: int, author_id: int, payload: JSON, files: list[Upload], *,
        ephemeral_for: int | None = None, interaction_id: int | None = None, webhook: bool = False,
        message_type: int = 0, interaction_metadata: JSON | None = None,
    ) -> Message:
        """Store a new message in a channel or thread and announce it (unless ephemeral)."""
        channel = self.channels[channel_id]
        message = Message(
            id=self.ids.next(), channel_id=channel_id, guild_id=channel.guild_id, author_id=author_id,
            interaction_id=interaction_id, webhook_id=self.application_id if webhook else None,
            type=message_type, tts=bool(payload.get("tts", False)),
            message_reference=payload.get("message_reference"), interaction_metadata=interaction_metadata,
        )
        self._apply(message, payload, files, creating=True)
        message.pinged = pings(message.content, payload.get("allowed_mentions"))
        if ephemeral_for is not None:
            message.flags |= 64
            message.ephemeral_for = ephemeral_for
        self.messages[message.id] = message
        self.channel_messages.setdefault(channel_id, []).append(message)
        channel.last_message_id = message.id
        if channel.is_thread:
            channel.message_count += 1
            channel.archived = False
        if not message.ephemeral:
            self.dispatch("MESSAGE_CREATE", self._message_event(message))
        return message

    def edit_message(self, message: Message, payload: JSON, files: list[Upload]) -> Message:
        """Apply an edit; a deferred response stops "thinking" once edited."""
        self._apply(message, payload, files, creating=False)
        message.flags &= ~LOADING_FLAG
        message.edited += 1
        message.edited_at = iso_now()
        if not message.ephemeral:
            self.dispatch("MESSAGE_UPDATE", self._message_event(message))
        return message

    def delete_message(self, message: Message) -> None:
        """Remove a message from its channel."""
        message.deleted = True
        self.messages.pop(message.id, None)
        listing = self.channel_messages.get(message.channel_id, [])
        if message in listing:
            listing.remove(message)
        if not message.ephemeral:
            data: JSON = {"id": str(message.id), "channel_id": str(message.channel_id)}
            if message.guild_id:
                data["guild_id"] = str(message.guild_id)
            self.dispatch("MESSAGE_DELETE", data)

    def react(self, message: Message, user_id: int, key: str, *, add: bool) -> bool:
        """Add or remove a user's reaction and announce it; False (and no event) if nothing changed."""
        changed = record_reaction(message, user_id, key) if add else drop_reaction(message, user_id, key)
        if changed:
            guild = self.guilds.get(message.guild_id or 0)
            member = guild.members.get(user_id) if guild and add else None
            data = reaction_event(message, user_id, key, added=add, member=member_payload(member) if member else None)
            self.dispatch("MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE", data)
        return changed

    def clear_reactions(self, message: Message, key: str | None = None) -> None:
        """Remove every reaction (or every reaction with one emoji) and announce it."""
        if key is None:
            message.reactions.clear()
            self.dispatch("MESSAGE_REACTION_REMOVE_ALL", clear_event(message, None))
        elif message.reactions.pop(key, None) is not None:
            self.dispatch("MESSAGE_REACTION_REMOVE_EMOJI", clear_event(message, key))

    def _message_event(self, message: Message) -> JSON:
        data = self.message_json(message)
        guild = self.guilds.get(message.guild_id or 0)
        if guild is not None and message.author_id in guild.members:
            member = member_payload(guild.members[message.author_id])
            del member["user"]
            data["member"] = member
        return data
