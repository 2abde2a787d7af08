"""The shared resources built once in `main` and injected into the bot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import discord

from bot.audit import AuditLog
from bot.config import OpscordConfig
from bot.db import Database
from bot.permissions import Authorizer
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.pipeline import Pipeline


@dataclass
class AppContext:
    """Everything a cog or the pipeline needs; no module-level singletons."""

    settings: Settings
    config: OpscordConfig
    db: Database
    audit: AuditLog
    http: aiohttp.ClientSession
    authorizer: Authorizer
    pipeline: Pipeline | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def context_of(client: discord.Client) -> AppContext:
    """The AppContext of an OpsBot (raises TypeError for any other client)."""
    ctx = getattr(client, "ctx", None)
    if not isinstance(ctx, AppContext):
        raise TypeError("client is not an OpsBot")
    return ctx
