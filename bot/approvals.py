"""Discord side of operations: actors from members, the notifier, the persistent buttons, incident rooms.

Buttons are `DynamicItem`s whose custom_id carries the request id, so they keep working after a
restart: the state lives in SQLite, never in the view.
"""

from __future__ import annotations

import logging
import re
import secrets
from datetime import datetime
from typing import Any

import discord

from bot.context import context_of
from bot.errors import ValidationFailed
from bot.interactions import audit_interaction
from bot.operations import Operation, parse_iso
from bot.pipeline import Actor, ActorRole, ClickOutcome, Pipeline
from bot.render import needs_sentence, request_line
from bot.tree import describe_error

log = logging.getLogger(__name__)
_NONE = discord.AllowedMentions.none()
_ID = r"(?P<op_id>op-[0-9a-f]{10})"


def actor_of(user: discord.abc.User) -> Actor:
    """The pipeline's view of a Discord member."""
    roles = tuple(ActorRole(r.id, r.name) for r in getattr(user, "roles", []) if not r.is_default())
    return Actor(id=str(user.id), name=user.name, roles=roles)


def pending_text(op: Operation) -> str:
    """The approval/confirmation message: the exact request and what it needs."""
    expires = ""
    if op.expires_at:
        expires = f" · expires <t:{int(parse_iso(op.expires_at).timestamp())}:R>"
    return (f"{request_line(op)} — {needs_sentence(op)}\n"
            f"Requested by @{op.requester_name} · `{op.id}`{expires}")


def pending_view(op: Operation, *, disabled: bool = False) -> discord.ui.View:
    """Approve/Reject for approvals, Confirm/Cancel for confirmations."""
    view = discord.ui.View(timeout=None)
    if op.status == "pending_confirmation" or (op.confirm and not op.approvals_required):
        view.add_item(ConfirmButton(op.id, disabled=disabled))
        view.add_item(CancelButton(op.id, disabled=disabled))
    else:
        view.add_item(ApproveButton(op.id, disabled=disabled))
        view.add_item(RejectButton(op.id, disabled=disabled))
    return view


class DiscordNotifier:
    """Edits an operation's message and posts to the deployments channel."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def show(self, op: Operation, text: str, *, final: bool, disable: bool = False) -> None:
        """Edit the request's message (buttons removed when final, or shown disabled)."""
        if not (op.message_channel_id and op.message_id):
            return
        channel = self._client.get_partial_messageable(int(op.message_channel_id))
        message = channel.get_partial_message(int(op.message_id))
        if disable:
            await message.edit(content=text[:2000], view=pending_view(op, disabled=True), allowed_mentions=_NONE)
        elif final:
            await message.edit(content=text[:2000], view=None, allowed_mentions=_NONE)
        else:
            await message.edit(content=text[:2000], allowed_mentions=_NONE)

    async def announce(self, text: str) -> None:
        """Post to the configured deployments channel."""
        channel = resolve_channel(self._client, context_of(self._client).config.channels.deployments)
        if channel is None:
            log.warning("deployments channel not found; could not post: %s", text)
            return
        await channel.send(text[:2000], allowed_mentions=_NONE)


def resolve_channel(client: discord.Client, ref: str | int) -> discord.TextChannel | None:
    """A text channel of the configured guild by name or ID."""
    guild = client.get_guild(context_of(client).config.guild.id)
    if guild is None:
        return None
    if isinstance(ref, int) or str(ref).isdigit():
        channel = guild.get_channel(int(ref))
        return channel if isinstance(channel, discord.TextChannel) else None
    return discord.utils.get(guild.text_channels, name=str(ref).lstrip("#"))


async def _answer(interaction: discord.Interaction[Any], outcome: ClickOutcome, pipeline: Pipeline) -> None:
    if outcome.refused:
        await interaction.response.send_message(outcome.text, ephemeral=True, allowed_mentions=_NONE)
        return
    if outcome.run or outcome.finished:
        if outcome.run:  # approved and recorded: it runs even if Discord refuses the edit below
            pipeline.start(outcome.op)
        await interaction.response.edit_message(content=outcome.text, view=None, allowed_mentions=_NONE)
        return
    await interaction.response.edit_message(content=f"{pending_text(outcome.op)}\n{outcome.text}",
                                            view=pending_view(outcome.op), allowed_mentions=_NONE)


class _OpButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=rf"opscord:base:{_ID}"):
    """Shared logic: the custom_id carries the request id."""

    kind = ""
    label = ""
    style = discord.ButtonStyle.secondary
    emoji = ""

    def __init__(self, op_id: str, *, disabled: bool = False) -> None:
        self.op_id = op_id
        super().__init__(discord.ui.Button(label=self.label, style=self.style, emoji=self.emoji or None,
                                           custom_id=f"opscord:{self.kind}:{op_id}", disabled=disabled))

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any],
                             match: re.Match[str]) -> _OpButton:
        """Rebuild the button from its custom_id (works for messages sent before a restart)."""
        return cls(match["op_id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Hand the click to the pipeline and show the outcome; any failure is one ephemeral sentence."""
        ctx = context_of(interaction.client)
        assert ctx.pipeline is not None
        try:
            outcome = await self.decide(ctx.pipeline, actor_of(interaction.user))
            await _answer(interaction, outcome, ctx.pipeline)
        except Exception as exc:
            await self._failed(interaction, exc)

    async def _failed(self, interaction: discord.Interaction[Any], exc: Exception) -> None:
        """The tree's error path does not cover components: answer, log and audit here."""
        result, sentence, unexpected = describe_error(exc)
        command = f"[{self.kind}] {self.op_id}"
        if unexpected:
            ref = secrets.token_hex(4)
            sentence = f"Something went wrong handling that click; it was logged as error {ref}."
            log.error("%s by %s failed [ref %s]", command, interaction.user, ref, exc_info=exc)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(sentence, ephemeral=True, allowed_mentions=_NONE)
            else:
                await interaction.response.send_message(sentence, ephemeral=True, allowed_mentions=_NONE)
        except discord.HTTPException as http_error:
            log.warning("could not tell %s about the failed click: %s", interaction.user, http_error)
        await audit_interaction(interaction, result, command=command, error=sentence, request_id=self.op_id)

    async def decide(self, pipeline: Pipeline, actor: Actor) -> ClickOutcome:
        """The pipeline call for this button."""
        raise NotImplementedError


class ApproveButton(_OpButton, template=rf"opscord:approve:{_ID}"):
    """✅ Approve."""

    kind, label, style, emoji = "approve", "Approve", discord.ButtonStyle.success, "✅"

    async def decide(self, pipeline: Pipeline, actor: Actor) -> ClickOutcome:
        """Count an approval."""
        return await pipeline.approve(self.op_id, actor)


class RejectButton(_OpButton, template=rf"opscord:reject:{_ID}"):
    """❌ Reject."""

    kind, label, style, emoji = "reject", "Reject", discord.ButtonStyle.danger, "❌"

    async def decide(self, pipeline: Pipeline, actor: Actor) -> ClickOutcome:
        """End the request."""
        return await pipeline.reject(self.op_id, actor)


class ConfirmButton(_OpButton, template=rf"opscord:confirm:{_ID}"):
    """Confirm (requester only)."""

    kind, label, style, emoji = "confirm", "Confirm", discord.ButtonStyle.danger, "⚠️"

    async def decide(self, pipeline: Pipeline, actor: Actor) -> ClickOutcome:
        """Go ahead."""
        return await pipeline.confirm(self.op_id, actor, True)


class CancelButton(_OpButton, template=rf"opscord:cancel:{_ID}"):
    """Cancel (requester only)."""

    kind, label, style, emoji = "cancel", "Cancel", discord.ButtonStyle.secondary, ""

    async def decide(self, pipeline: Pipeline, actor: Actor) -> ClickOutcome:
        """Call it off."""
        return await pipeline.confirm(self.op_id, actor, False)


BUTTONS = (ApproveButton, RejectButton, ConfirmButton, CancelButton)


class DiscordIncidentRoom:
    """Incident threads and postmortem events in the configured guild."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def open(self, name: str, announcement: str) -> str:
        """Announce in the incidents channel and start a public thread from that message."""
        ref = context_of(self._client).config.channels.incidents
        channel = resolve_channel(self._client, ref)
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
        guild = self._client.get_guild(context_of(self._client).config.guild.id)
        if guild is None:
            raise ValidationFailed("The configured guild is not available.")
        event = await guild.create_scheduled_event(
            name=name[:100], start_time=start, end_time=end, entity_type=discord.EntityType.external,
            privacy_level=discord.PrivacyLevel.guild_only, location=location[:100], description=description[:1000])
        return str(event.id)
