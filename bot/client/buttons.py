"""The Approve/Reject/Confirm/Cancel buttons (and a break-glass review's Acknowledge): persistent `DynamicItem`s
that rebuild themselves from their custom_id.

The custom_id carries the request id, and the request's state lives in the store, so a button
keeps working after a restart. A click goes to the pipeline with the message it was on; the
pipeline answers through `ButtonReply`. Component errors do not reach the command tree's
handler in discord.py, so a click's failures take the same error path here.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import discord

from bot.client.calls import click_of, invocation_of
from bot.client.errors import answer_failure
from bot.errors import ValidationFailed
from bot.pipeline import Card
from bot.pipeline.types import ClickKind

log = logging.getLogger(__name__)
_NONE = discord.AllowedMentions.none()
_ID = r"(?P<op_id>op-[0-9a-f]{10})"


def view_for(card: Card) -> discord.ui.View | None:
    """The buttons a card asks for (None: no buttons)."""
    if card.buttons is None:
        return None
    view = discord.ui.View(timeout=None)
    pair: tuple[type[_RequestButton], ...] = (ApproveButton, RejectButton)
    if card.buttons == "confirmation":
        pair = (ConfirmButton, CancelButton)
    elif card.buttons == "review":
        pair = (AcknowledgeButton,)
    for button in pair:
        view.add_item(button(card.op_id, disabled=card.disabled))
    return view


class ButtonReply:
    """Answers a click: the clicked message becomes the request's new card, or one sentence for the clicker."""

    def __init__(self, interaction: discord.Interaction[Any]) -> None:
        self._interaction = interaction

    async def update(self, card: Card) -> None:
        """Edit the clicked message as the click's answer."""
        from bot.client.bot import app_of
        from bot.client.cards import Rendered

        shown = Rendered(self._interaction.client, app_of(self._interaction.client).config, card)
        await self._interaction.response.edit_message(content=shown.content, view=shown.view,
                                                      allowed_mentions=shown.allowed_mentions)

    async def tell(self, sentence: str) -> None:
        """An ephemeral sentence for the clicker."""
        await self._interaction.response.send_message(sentence, ephemeral=True, allowed_mentions=_NONE)


UNKNOWN_BUTTON = "That button is not one Opscord knows (an old or foreign message?); nothing was done."


def is_ours(custom_id: str) -> bool:
    """Whether one of Opscord's buttons answers this custom_id."""
    return any(button.__discord_ui_compiled_template__.fullmatch(custom_id) for button in BUTTONS)


async def answer_unknown(interaction: discord.Interaction[Any]) -> None:
    """A click no button of Opscord's answers (discord.py would leave it unanswered): one sentence, audited."""
    from bot.client.bot import app_of

    data: dict[str, Any] = dict(interaction.data or {})
    if interaction.type is not discord.InteractionType.component or is_ours(str(data.get("custom_id", ""))):
        return
    await answer_failure(app_of(interaction.client), interaction, invocation_of(interaction),
                         ValidationFailed(UNKNOWN_BUTTON))


class _RequestButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"opscord:base:{_ID}"):
    """A button of a request's message."""

    kind: ClickKind = "approve"
    label = ""
    style = discord.ButtonStyle.secondary
    emoji = ""

    def __init__(self, op_id: str, *, disabled: bool = False) -> None:
        self.op_id = op_id
        super().__init__(discord.ui.Button(label=self.label, style=self.style, emoji=self.emoji or None,
                                           custom_id=f"opscord:{self.kind}:{op_id}", disabled=disabled))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str]) -> _RequestButton:
        """Rebuild the button from its custom_id (works for messages sent before a restart)."""
        return cls(match["op_id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Hand the click to the pipeline; any failure is one ephemeral sentence, logged and audited."""
        from bot.client.bot import app_of

        app = app_of(interaction.client)
        click = click_of(interaction, self.kind, self.op_id)
        try:
            await app.pipeline.click(click, ButtonReply(interaction))
        except Exception as exc:
            await answer_failure(app, interaction, click.call, exc)


class ApproveButton(_RequestButton, template=rf"opscord:approve:{_ID}"):
    """✅ Approve."""

    kind, label, style, emoji = "approve", "Approve", discord.ButtonStyle.success, "✅"


class RejectButton(_RequestButton, template=rf"opscord:reject:{_ID}"):
    """❌ Reject."""

    kind, label, style, emoji = "reject", "Reject", discord.ButtonStyle.danger, "❌"


class ConfirmButton(_RequestButton, template=rf"opscord:confirm:{_ID}"):
    """Confirm (the requester only)."""

    kind, label, style, emoji = "confirm", "Confirm", discord.ButtonStyle.danger, "⚠️"


class CancelButton(_RequestButton, template=rf"opscord:cancel:{_ID}"):
    """Cancel (the requester only)."""

    kind, label, style, emoji = "cancel", "Cancel", discord.ButtonStyle.secondary, ""


class AcknowledgeButton(_RequestButton, template=rf"opscord:acknowledge:{_ID}"):
    """👀 Acknowledge (a break-glass review, in the audit channel)."""

    kind, label, style, emoji = "acknowledge", "Acknowledge", discord.ButtonStyle.primary, "👀"


BUTTONS = (ApproveButton, RejectButton, ConfirmButton, CancelButton, AcknowledgeButton)
