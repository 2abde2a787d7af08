"""What emulated users do: run commands, click buttons, pick options, submit modals, type messages, react.

Each interaction action builds a real interaction payload and dispatches it on the gateway; the
returned :class:`InteractionHandle` watches the bot's answer. Messages and reactions are stored and
announced as Discord announces them (also while no bot is connected: it can read them later).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.sandbox.emulator.commands import CommandDataBuilder, find_command
from bot.sandbox.emulator.gateway import GatewayHub
from bot.sandbox.emulator.interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    COMPONENT,
    MODAL_SUBMIT,
    InteractionHandle,
    interaction_payload,
    modal_submit_data,
)
from bot.sandbox.emulator.models import ADD_REACTIONS, JSON, Message
from bot.sandbox.emulator.reactions import MAX_REACTIONS, emoji_key
from bot.sandbox.emulator.state import EmulatorState


class UserActions:
    """Dispatches interactions on behalf of guild members."""

    def __init__(self, state: EmulatorState, gateway: GatewayHub) -> None:
        """Act on ``state`` and dispatch through ``gateway``."""
        self.state = state
        self.gateway = gateway

    def _check_member(self, guild_id: int, channel_id: int, user_id: int) -> None:
        guild = self.state.guilds.get(guild_id)
        if guild is None:
            raise ValueError(f"no guild {guild_id}")
        if channel_id not in guild.channels:
            raise ValueError(f"channel {channel_id} is not in guild {guild.name!r}")
        if user_id not in guild.members:
            raise ValueError(f"user {user_id} is not a member of guild {guild.name!r}")

    async def _dispatch(self, handle: InteractionHandle, data: JSON) -> InteractionHandle:
        if not any(s.ready and not s.ended for s in self.gateway.sessions.values()):
            raise RuntimeError("no bot session: start the bot and await emulator.wait_ready() first")
        payload = interaction_payload(self.state, handle, data)
        handle.payload = payload
        self.state.interactions[handle.id] = handle
        self.state.interaction_tokens[handle.token] = handle
        self.gateway.dispatch("INTERACTION_CREATE", payload)
        await self.state.notify()
        return handle

    def _command_data(
        self, guild_id: int, channel_id: int, command: str, options: Mapping[str, Any] | None, focused: str | None
    ) -> JSON:
        words = command.strip().lstrip("/").split()
        if not words:
            raise ValueError("empty command")
        synced = self.state.guild_commands.get(guild_id, []) + self.state.global_commands
        definition = find_command(synced, words[0])
        builder = CommandDataBuilder(self.state, guild_id, channel_id)
        return builder.build(definition, words[1:], options or {}, focused)

    async def run_command(
        self, guild_id: int, channel_id: int, user_id: int, command: str, options: Mapping[str, Any] | None = None
    ) -> InteractionHandle:
        """``command`` is the full path ("audit recent"); option values are typed per the synced definition."""
        self._check_member(guild_id, channel_id, user_id)
        data = self._command_data(guild_id, channel_id, command, options, None)
        handle = InteractionHandle(
            self.state, kind=APPLICATION_COMMAND, guild_id=guild_id, channel_id=channel_id, user_id=user_id
        )
        return await self._dispatch(handle, data)

    async def autocomplete(
        self, guild_id: int, channel_id: int, user_id: int, command: str, options: Mapping[str, Any],
        *, focused: str, timeout: float = 5.0,  # noqa: ASYNC109 - tests pass a plain timeout
    ) -> list[JSON]:
        """Ask for suggestions for the ``focused`` option and return the bot's choices."""
        self._check_member(guild_id, channel_id, user_id)
        data = self._command_data(guild_id, channel_id, command, options, focused)
        handle = InteractionHandle(
            self.state, kind=AUTOCOMPLETE, guild_id=guild_id, channel_id=channel_id, user_id=user_id
        )
        await self._dispatch(handle, data)
        await handle.wait_response(timeout)
        return list(handle.choices or [])

    def _clickable(self, message_id: int, custom_id: str, user_id: int) -> tuple[Message, JSON]:
        message = self.state.messages.get(message_id)
        if message is None:
            raise ValueError(f"no message {message_id}")
        if message.ephemeral and message.ephemeral_for != user_id:
            raise ValueError(f"message {message_id} is ephemeral: only user {message.ephemeral_for} sees it")
        component = message.find_component(custom_id)
        if component is None:
            ids = [c.get("custom_id") for c in message.walk_components() if c.get("custom_id")]
            raise ValueError(f"message {message_id} has no component {custom_id!r}; it has {ids}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        if message.guild_id is None:
            raise ValueError("only guild messages are supported")
        self._check_member(message.guild_id, message.channel_id, user_id)
        return message, component

    async def click_button(self, message_id: int, custom_id: str, user_id: int) -> InteractionHandle:
        """Click a button of a message (type 3 interaction carrying the message)."""
        message, component = self._clickable(message_id, custom_id, user_id)
        if component.get("type") != 2:
            raise ValueError(f"component {custom_id!r} is not a button (type {component.get('type')})")
        return await self._component(message, {"custom_id": custom_id, "component_type": 2}, user_id)

    async def select(self, message_id: int, custom_id: str, user_id: int, values: list[str]) -> InteractionHandle:
        """Pick ``values`` in a select menu of a message."""
        message, component = self._clickable(message_id, custom_id, user_id)
        kind = int(component.get("type") or 0)
        if kind not in (3, 5, 6, 7, 8):
            raise ValueError(f"component {custom_id!r} is not a select menu")
        if kind == 3:
            allowed = [str(o.get("value")) for o in component.get("options") or []]
            unknown = [v for v in values if v not in allowed]
            if unknown:
                raise ValueError(f"select {custom_id!r} has no options {unknown}; options: {allowed}")
        data = {"custom_id": custom_id, "component_type": kind, "values": list(values)}
        return await self._component(message, data, user_id)

    async def _component(self, message: Message, data: JSON, user_id: int) -> InteractionHandle:
        assert message.guild_id is not None
        handle = InteractionHandle(
            self.state, kind=COMPONENT, guild_id=message.guild_id, channel_id=message.channel_id,
            user_id=user_id, message_id=message.id,
        )
        return await self._dispatch(handle, data)

    async def submit_modal(
        self, opened_by: InteractionHandle, values: dict[str, str], user_id: int | None = None
    ) -> InteractionHandle:
        """Submit the modal that ``opened_by`` answered with (callback type 9), text inputs by custom_id."""
        if opened_by.modal is None:
            raise ValueError(f"interaction {opened_by.id} did not open a modal")
        handle = InteractionHandle(
            self.state, kind=MODAL_SUBMIT, guild_id=opened_by.guild_id, channel_id=opened_by.channel_id,
            user_id=user_id or opened_by.user_id, message_id=opened_by.message_id,
        )
        handle.opened_by = opened_by
        return await self._dispatch(handle, modal_submit_data(opened_by.modal, values))

    async def post_message(self, channel_id: int, user_id: int, content: str) -> Message:
        """A member types a plain message in a channel (dispatched as MESSAGE_CREATE)."""
        guild = self.state.guild_of(channel_id)
        if guild is None:
            raise ValueError(f"no channel {channel_id}")
        self._check_member(guild.id, channel_id, user_id)
        message = self.state.create_message(channel_id, user_id, {"content": content}, [])
        await self.state.notify()
        return message

    def _reactable(self, message_id: int, user_id: int, emoji: str) -> tuple[Message, str]:
        message = self.state.messages.get(message_id)
        if message is None:
            raise ValueError(f"no message {message_id}")
        if message.ephemeral:
            raise ValueError(f"message {message_id} is ephemeral: nobody can react to it")
        if message.guild_id is None:
            raise ValueError("only guild messages are supported")
        self._check_member(message.guild_id, message.channel_id, user_id)
        return message, emoji_key(emoji)

    async def react(self, message_id: int, user_id: int, emoji: str) -> Message:
        """React to a message; a new emoji needs Add Reactions and a free slot (20 per message)."""
        message, key = self._reactable(message_id, user_id, emoji)
        if key not in message.reactions:
            assert message.guild_id is not None
            if not self.state.permissions(message.guild_id, user_id) & ADD_REACTIONS:
                raise ValueError(f"user {user_id} may not add new reactions (no Add Reactions permission)")
            if len(message.reactions) >= MAX_REACTIONS:
                raise ValueError(f"message {message_id} already has {MAX_REACTIONS} different reactions")
        if not self.state.react(message, user_id, key, add=True):
            raise ValueError(f"user {user_id} has already reacted with {key} to message {message_id}")
        await self.state.notify()
        return message

    async def unreact(self, message_id: int, user_id: int, emoji: str) -> Message:
        """Take back a reaction the user made."""
        message, key = self._reactable(message_id, user_id, emoji)
        if not self.state.react(message, user_id, key, add=False):
            raise ValueError(f"user {user_id} has not reacted with {key} to message {message_id}")
        await self.state.notify()
        return message
