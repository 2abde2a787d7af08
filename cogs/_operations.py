"""Shared by the operation cogs: autocomplete, turning an interaction into a request, first reply."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.approvals import actor_of, pending_text, pending_view
from bot.context import AppContext
from bot.interactions import AUDITED_KEY, command_text
from bot.pipeline import OpAction, OperationInput, Pipeline
from bot.render import doing_line, request_line

_NONE = discord.AllowedMentions.none()


def pipeline_of(ctx: AppContext) -> Pipeline:
    """The pipeline (always built by main)."""
    assert ctx.pipeline is not None, "the operation pipeline is not configured"
    return ctx.pipeline


def service_choices(ctx: AppContext, current: str) -> list[app_commands.Choice[str]]:
    """Services whose name contains what was typed."""
    typed = current.lower()
    return [app_commands.Choice(name=s.name, value=s.name) for s in ctx.config.services if typed in s.name][:25]


def environment_choices(ctx: AppContext, interaction: discord.Interaction[Any], current: str
                        ) -> list[app_commands.Choice[str]]:
    """Environments of the chosen service (all environments before one is chosen)."""
    svc = ctx.config.service(str(getattr(interaction.namespace, "service", "") or ""))
    names = svc.environments if svc else [e.name for e in ctx.config.environments]
    return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n][:25]


async def version_choices(ctx: AppContext, interaction: discord.Interaction[Any], current: str
                          ) -> list[app_commands.Choice[str]]:
    """Recently deployed versions of the chosen service, newest first."""
    service = str(getattr(interaction.namespace, "service", "") or "")
    seen: list[str] = []
    for record in await pipeline_of(ctx).store.deploy_history(service, limit=100):
        if record.version not in seen and current.lower() in record.version.lower():
            seen.append(record.version)
    return [app_commands.Choice(name=v, value=v) for v in seen[:25]]


def operation_input(interaction: discord.Interaction[Any], action: OpAction, service: str, environment: str,
                    *, version: str | None = None, replicas: int | None = None) -> OperationInput:
    """The typed request for the pipeline."""
    channel = interaction.channel
    return OperationInput(
        action=action, service=service, environment=environment, version=version, replicas=replicas,
        command=command_text(interaction), channel_id=str(channel.id) if channel else None,
        channel_name=getattr(channel, "name", None), guild_id=str(interaction.guild_id or "") or None)


async def run_operation(ctx: AppContext, interaction: discord.Interaction[Any], inp: OperationInput) -> None:
    """Submit to the pipeline and post the first reply: an approval/confirmation message or progress."""
    pipeline = pipeline_of(ctx)
    submitted = await pipeline.submit(inp, actor_of(interaction.user))  # refusals are audited by the pipeline
    interaction.extras[AUDITED_KEY] = True  # and so is every outcome from here on
    op = submitted.op
    try:
        if submitted.state == "run":
            await interaction.response.send_message(f"{request_line(op)} — {doing_line(op)}", allowed_mentions=_NONE)
        else:
            await interaction.response.send_message(pending_text(op), view=pending_view(op), allowed_mentions=_NONE)
        message = await interaction.original_response()
    except discord.HTTPException as exc:  # nobody saw the request, so it must not run
        await pipeline.abandon(op, f"Discord refused the first reply ({exc.status}: {exc.text[:100]})")
        raise
    await pipeline.store.set_message(op.id, message.channel.id, message.id)
    if submitted.state == "run":
        fresh = await pipeline.store.get(op.id)
        pipeline.start(fresh or op)
