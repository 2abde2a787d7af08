"""The minimal discord.py bot the emulator tests run: one command per emulated feature."""

from __future__ import annotations

import asyncio
import datetime
import io
import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands


class ApproveButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"approve:(?P<request>[0-9]+)"):
    """A persistent approval button; its state lives in the custom_id, so it survives restarts."""

    def __init__(self, request: int) -> None:
        super().__init__(
            discord.ui.Button(label="Approve", style=discord.ButtonStyle.success, custom_id=f"approve:{request}")
        )
        self.request = request

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ApproveButton:
        return cls(int(match["request"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(
            content=f"request {self.request} approved by {interaction.user.name}", view=None
        )


class AckButton(discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"ack:(?P<request>[0-9]+)"):
    """Answers with a deferred update (type 6), then edits the clicked message through @original."""

    def __init__(self, request: int) -> None:
        super().__init__(discord.ui.Button(label="Ack", custom_id=f"ack:{request}"))
        self.request = request

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> AckButton:
        return cls(int(match["request"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await asyncio.sleep(0.02)
        await interaction.edit_original_response(content=f"request {self.request} acknowledged")


class DetailsButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"details:(?P<request>[0-9]+)"
):
    """Answers a click with a new message (callback type 4), which names the clicked message."""

    def __init__(self, request: int) -> None:
        super().__init__(discord.ui.Button(label="Details", custom_id=f"details:{request}"))
        self.request = request

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> DetailsButton:
        return cls(int(match["request"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"details of request {self.request}")


class ReasonModal(discord.ui.Modal, title="Reject request"):
    reason: discord.ui.TextInput[ReasonModal] = discord.ui.TextInput(label="Reason", custom_id="reason")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"rejected: {self.reason.value}")


audit = app_commands.Group(name="audit", description="Query the audit trail")
export = app_commands.Group(name="export", description="Export the audit trail", parent=audit)
SERVICES = ["order-service", "orders-db", "payment-service", "web"]


@audit.command(name="recent", description="Recent audit rows")
async def audit_recent(interaction: discord.Interaction, limit: int) -> None:
    await interaction.response.send_message(f"recent limit={limit!r} type={type(limit).__name__}")


@audit.command(name="service", description="Rows for one service")
async def audit_service(interaction: discord.Interaction, service: str) -> None:
    await interaction.response.send_message(f"service={service}")


@audit_service.autocomplete("service")
async def service_choices(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=s, value=s) for s in SERVICES if s.startswith(current)]


@export.command(name="json", description="Export as JSON lines")
async def export_json(interaction: discord.Interaction, days: int = 7) -> None:
    data = b'{"user": "@alice"}\n' * days
    await interaction.response.send_message("export ready", file=discord.File(io.BytesIO(data), "audit.jsonl"))


@app_commands.command(name="ping", description="Are you there?")
async def ping(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("pong")


@app_commands.command(name="echo", description="Repeat text")
async def echo(interaction: discord.Interaction, text: str, times: int = 1, loud: bool = False) -> None:
    said = (text.upper() if loud else text) * times
    await interaction.response.send_message(f"{said} ({type(times).__name__}, {type(loud).__name__})")


@app_commands.command(name="deploy-slow", description="Defers, then edits the original and follows up")
async def deploy_slow(interaction: discord.Interaction, service: str) -> None:
    await interaction.response.defer(thinking=True)
    await asyncio.sleep(0.05)
    embed = discord.Embed(title=f"Deployed {service}", description="health: ok")
    await interaction.edit_original_response(content="deploy finished", embed=embed)
    await interaction.followup.send("follow-up: dashboards updated")


@app_commands.command(name="secret", description="Only you can see this")
async def secret(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("for your eyes only", ephemeral=True)


@app_commands.command(name="request", description="Ask for approval")
async def request_approval(interaction: discord.Interaction, request: int) -> None:
    view = discord.ui.View(timeout=None)
    view.add_item(ApproveButton(request))
    view.add_item(AckButton(request))
    await interaction.response.send_message(f"request {request} needs a team lead", view=view)


@app_commands.command(name="card", description="A message with a Details button")
async def card(interaction: discord.Interaction, request: int) -> None:
    view = discord.ui.View(timeout=None)
    view.add_item(DetailsButton(request))
    await interaction.response.send_message(f"request {request}", view=view)


@app_commands.command(name="reject", description="Reject with a reason")
async def reject(interaction: discord.Interaction) -> None:
    await interaction.response.send_modal(ReasonModal())


@app_commands.command(name="whois", description="Describe a member")
async def whois(interaction: discord.Interaction, member: discord.Member) -> None:
    roles = ",".join(r.name for r in member.roles if not r.is_default())
    await interaction.response.send_message(f"{member.name} roles={roles}")


@app_commands.command(name="late", description="Answers after Discord's 3 s window")
async def late(interaction: discord.Interaction) -> None:
    await asyncio.sleep(3.2)
    try:
        await interaction.response.send_message("too late")
    except discord.NotFound as exc:
        interaction.client.refusals.append(exc.code)  # type: ignore[attr-defined]


@app_commands.command(name="huge", description="Sends more than 2000 characters")
async def huge(interaction: discord.Interaction) -> None:
    try:
        await interaction.response.send_message("x" * 2001)
    except discord.HTTPException as exc:
        interaction.client.refusals.append(exc.code)  # type: ignore[attr-defined]
        await interaction.response.send_message("shortened")


@app_commands.command(name="incident", description="Open an incident thread")
async def incident(interaction: discord.Interaction, title: str) -> None:
    await interaction.response.send_message(f"incident: {title}")
    message = await interaction.original_response()
    assert isinstance(interaction.channel, discord.TextChannel) and interaction.guild is not None
    thread = await interaction.channel.create_thread(name=f"inc-{title}", type=discord.ChannelType.public_thread)
    await thread.send("status: investigating")
    await message.add_reaction("\N{POLICE CARS REVOLVING LIGHT}")
    await message.pin()
    start = discord.utils.utcnow() + datetime.timedelta(days=1)
    await interaction.guild.create_scheduled_event(
        name=f"Postmortem: {title}", start_time=start, end_time=start + datetime.timedelta(hours=1),
        entity_type=discord.EntityType.external, location="Zoom", privacy_level=discord.PrivacyLevel.guild_only,
    )


@app_commands.command(name="progress", description="Progress updates: edits the original per step, then more")
async def progress(interaction: discord.Interaction, steps: int = 3) -> None:
    await interaction.response.defer(thinking=True)
    for step in range(1, steps + 1):
        await interaction.edit_original_response(content=f"step {step}/{steps}")
    await interaction.followup.send(f"done after {steps} steps")
    assert isinstance(interaction.channel, discord.TextChannel)
    note = await interaction.channel.send("progress: started")
    await note.edit(content=f"progress: {steps}/{steps}")


@app_commands.command(name="hold", description="Never answers (tests post callbacks themselves)")
async def hold(interaction: discord.Interaction) -> None:
    return None


COMMANDS: tuple[app_commands.Command[Any, ..., Any] | app_commands.Group, ...] = (audit, ping, echo, deploy_slow, secret, request_approval, reject, whois, late, huge, incident, progress, card, hold)


class OpsTestBot(commands.Bot):
    """Registers everything above, copied to the test guild and synced there only."""

    def __init__(self, guild_id: int, *, intents: discord.Intents | None = None) -> None:
        if intents is None:
            intents = discord.Intents.default()
            intents.members = True
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, guild_ready_timeout=0.1)
        self.guild_id = guild_id
        self.refusals: list[int] = []
        self.raw_reactions: list[discord.RawReactionActionEvent] = []
        self.cached_reactions: list[tuple[str, str, int, int]] = []  # (add/remove, emoji, count after, user id)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self.raw_reactions.append(payload)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        self.raw_reactions.append(payload)

    async def on_reaction_add(self, reaction: discord.Reaction, user: discord.abc.User) -> None:
        self.cached_reactions.append(("add", str(reaction.emoji), reaction.count, user.id))

    async def on_reaction_remove(self, reaction: discord.Reaction, user: discord.abc.User) -> None:
        self.cached_reactions.append(("remove", str(reaction.emoji), reaction.count, user.id))

    async def setup_hook(self) -> None:
        self.add_dynamic_items(ApproveButton, AckButton, DetailsButton)
        for command in COMMANDS:
            self.tree.add_command(command)
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)
