"""Shared by the operation cogs: autocomplete, and handing a slash command to the pipeline."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.app import App
from bot.client.phrase import request_with_step_up
from bot.pipeline import OperationInput

BREAK_GLASS = "Incident commanders, during an open incident of the service: why it cannot wait (skips approvals)"


def service_choices(app: App, current: str) -> list[app_commands.Choice[str]]:
    """Services whose name contains what was typed."""
    typed = current.lower()
    return [app_commands.Choice(name=s.name, value=s.name) for s in app.config.services if typed in s.name][:25]


def environment_choices(app: App, interaction: discord.Interaction[Any], current: str
                        ) -> list[app_commands.Choice[str]]:
    """Environments of the chosen service (all environments before one is chosen)."""
    svc = app.config.service(str(getattr(interaction.namespace, "service", "") or ""))
    names = svc.environments if svc else [e.name for e in app.config.environments]
    return [app_commands.Choice(name=n, value=n) for n in names if current.lower() in n][:25]


def _searchable(text: str) -> bool:
    """Whether the store can look the text up: UTF-8 cannot hold a lone surrogate, PostgreSQL no NUL."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


async def version_choices(app: App, interaction: discord.Interaction[Any], current: str
                          ) -> list[app_commands.Choice[str]]:
    """Recently deployed versions of the chosen service, newest first."""
    svc = app.config.service(str(getattr(interaction.namespace, "service", "") or ""))
    typed = current[:64]
    if svc is None or not _searchable(typed):
        return []
    versions = await app.store.versions(svc.name, typed, limit=25)
    return [app_commands.Choice(name=v, value=v) for v in versions]


async def request_operation(app: App, interaction: discord.Interaction[Any], inp: OperationInput) -> None:
    """The pipeline records the request, answers the interaction with its card, and runs it when it may
    (after a step-up modal where the policy row wants the service name typed)."""
    await request_with_step_up(interaction, inp)
