"""Interactions the emulator dispatches, and the handle a test uses to watch the bot's answer."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.sandbox.emulator.models import ALL_PERMISSIONS, JSON, Message, Upload
from bot.sandbox.emulator.payloads import channel_payload, user_payload
from bot.sandbox.emulator.state import EmulatorState

APPLICATION_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
CALLBACK_DEADLINE_S = 3.0
TOKEN_LIFETIME_S = 15 * 60
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


@dataclass
class InteractionCallback:
    """The bot's accepted initial response: callback ``type``, its ``data`` and uploaded files."""

    type: int
    data: JSON
    files: list[Upload] = field(default_factory=list)
    at_ms: float = 0.0


class InteractionHandle:
    """One dispatched interaction: what the bot answered, when, and which messages it produced."""

    def __init__(
        self, state: EmulatorState, *, kind: int, guild_id: int, channel_id: int, user_id: int,
        message_id: int | None = None,
    ) -> None:
        """Create the interaction with a fresh snowflake id and token; the clock starts at dispatch."""
        self._state = state
        self.id = state.ids.next()
        self.token = f"emu.{secrets.token_urlsafe(24)}"
        self.type = kind
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.user_id = user_id
        self.message_id = message_id
        self.dispatched_at = time.monotonic()
        self.callback: InteractionCallback | None = None
        self.refused: list[JSON] = []
        self.original_id: int | None = message_id if kind in (COMPONENT, MODAL_SUBMIT) else None
        self.followup_ids: list[int] = []
        self.choices: list[JSON] | None = None
        self.modal: JSON | None = None
        self.baseline_edits: int | None = None
        self.payload: JSON = {}
        self.opened_by: InteractionHandle | None = None

    def __repr__(self) -> str:
        """Show the id, type and answer so a failing assertion says what happened."""
        return f"<InteractionHandle id={self.id} type={self.type} response_type={self.response_type}>"

    # -- what the bot answered -------------------------------------------------------------

    @property
    def response_type(self) -> int | None:
        """The initial callback type (4, 5, 6, 7, 8 or 9), None before it arrives."""
        return self.callback.type if self.callback else None

    @property
    def responded_at_ms(self) -> float | None:
        """Milliseconds from dispatch to the accepted initial callback."""
        return self.callback.at_ms if self.callback else None

    @property
    def original(self) -> Message | None:
        """The @original message (for components: the clicked message), None if there is none."""
        if self.original_id is None or (self.type in (COMPONENT, MODAL_SUBMIT) and self.callback is None):
            return None
        return self._state.messages.get(self.original_id)

    @property
    def followups(self) -> list[Message]:
        """Followup messages still present, in the order they were sent."""
        return [self._state.messages[i] for i in self.followup_ids if i in self._state.messages]

    @property
    def ephemeral(self) -> bool:
        """Whether the initial response was ephemeral (flag 64)."""
        if self.callback is None:
            return False
        return bool(int(self.callback.data.get("flags") or 0) & 64)

    def elapsed_s(self) -> float:
        """Seconds since dispatch."""
        return time.monotonic() - self.dispatched_at

    def token_valid(self) -> bool:
        """Whether the interaction token still works for followups (15 minutes)."""
        return self.elapsed_s() < TOKEN_LIFETIME_S

    def owns_message(self, message_id: int) -> bool:
        """Whether the message is this interaction's original or one of its followups."""
        return message_id == self.original_id or message_id in self.followup_ids

    @property
    def integration_owners(self) -> JSON:
        """``authorizing_integration_owners``: the app is installed to the guild ("0" = guild install)."""
        return {"0": str(self.guild_id)}

    def metadata(self, *, original_response_id: int | None = None) -> JSON:
        """The ``interaction_metadata`` of a message this interaction's responses create.

        A followup names the original response; a component's answer names the clicked message; a
        modal submit's carries the metadata of the interaction that opened the modal.
        """
        data: JSON = {
            "id": str(self.id),
            "type": self.type,
            "user": user_payload(self._state.users[self.user_id]),
            "authorizing_integration_owners": self.integration_owners,
        }
        if original_response_id is not None:
            data["original_response_message_id"] = str(original_response_id)
        if self.type == COMPONENT and self.message_id is not None:
            data["interacted_message_id"] = str(self.message_id)
        if self.type == MODAL_SUBMIT and self.opened_by is not None:
            data["triggering_interaction_metadata"] = self.opened_by.metadata()
        return data

    # -- waiting -------------------------------------------------------------------------------

    async def wait_response(self, timeout: float = 5.0) -> InteractionCallback:  # noqa: ASYNC109
        """Wait for the accepted initial callback.

        A refused callback (bad payload) may still be followed by a good one within the 3 s window,
        so this fails (AssertionError listing the refusals) only once the window has passed.
        """

        def answered() -> InteractionCallback | bool | None:
            return self.callback or (bool(self.refused) and self.elapsed_s() > CALLBACK_DEADLINE_S)

        await self._state.wait_until(answered, timeout, what=f"a callback to interaction {self.id}")
        if self.callback is None:
            raise AssertionError(f"interaction {self.id}: callback refused: {self.refused}")
        return self.callback

    async def wait_message(
        self, timeout: float = 5.0, predicate: Callable[[Message], bool] | None = None  # noqa: ASYNC109
    ) -> Message:
        """Wait for a message this interaction produced that shows something (and matches ``predicate``).

        After a deferred response this is the @original edit or a followup, whichever comes first.
        """

        def produced() -> Message | None:
            original = self.original
            if original is not None and self.baseline_edits is not None and original.edited <= self.baseline_edits:
                original = None  # a deferred update has not edited the clicked message yet
            candidates = ([original] if original else []) + self.followups
            for message in candidates:
                if message.has_body() and not message.loading and (predicate is None or predicate(message)):
                    return message
            return None

        return await self._state.wait_until(produced, timeout, what=f"a message from interaction {self.id}")


def interaction_payload(state: EmulatorState, handle: InteractionHandle, data: JSON) -> JSON:
    """The INTERACTION_CREATE body with every key discord.py reads."""
    channel = state.channels[handle.channel_id]
    payload: JSON = {
        "id": str(handle.id),
        "application_id": str(state.application_id),
        "type": handle.type,
        "data": data,
        "guild_id": str(handle.guild_id),
        "guild": {"id": str(handle.guild_id), "locale": "en-US", "features": []},
        "channel_id": str(channel.id),
        "channel": channel_payload(channel, permissions=state.permissions(handle.guild_id, handle.user_id)),
        "member": state.member_json(handle.guild_id, handle.user_id),
        "token": handle.token,
        "version": 1,
        "app_permissions": str(ALL_PERMISSIONS),
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": handle.integration_owners,
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if handle.message_id is not None:
        payload["message"] = state.message_json(state.messages[handle.message_id])
    return payload


def modal_submit_data(modal: JSON, values: dict[str, str]) -> JSON:
    """The data of a modal submit: the modal's text inputs filled from ``values`` (by custom_id)."""
    unused = set(values)

    def fill(item: JSON) -> JSON | None:
        kind = item.get("type")
        if kind == 1:
            children = [c for c in (fill(child) for child in item.get("components") or []) if c]
            return {"type": 1, "components": children}
        if kind == 18 and isinstance(item.get("component"), dict):
            inner = fill(item["component"])
            return {"type": 18, "component": inner} if inner else None
        if kind == 4:
            custom_id = str(item.get("custom_id"))
            unused.discard(custom_id)
            return {"type": 4, "custom_id": custom_id, "value": values.get(custom_id, item.get("value") or "")}
        return None

    components = [c for c in (fill(item) for item in modal.get("components") or []) if c]
    if unused:
        raise ValueError(f"modal {modal.get('custom_id')!r} has no text inputs {sorted(unused)}")
    return {"custom_id": modal["custom_id"], "components": components}
