"""Builds the shared resources once and runs the bot until it is stopped."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Mapping

import aiohttp
import discord
import yarl

from bot.audit import AuditLog
from bot.bot import OpsBot
from bot.config import PROVIDER_SECTIONS, ConfigError, OpscordConfig, env_problems, load_config
from bot.context import AppContext
from bot.db import Database
from bot.logging_setup import configure_logging
from bot.operations import OperationStore
from bot.permissions import Authorizer
from bot.pipeline import Pipeline
from bot.providers import ProviderRegistry
from bot.settings import Settings
from bot.web import StatusServer
from integrations.http import HttpClient

log = logging.getLogger(__name__)


def redirect_discord(api_base_url: str | None, gateway_url: str | None) -> None:
    """Point discord.py's REST base and gateway at other URLs (a REST proxy or the local emulator)."""
    if api_base_url:
        discord.http.Route.BASE = api_base_url.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


@contextlib.asynccontextmanager
async def app_context(settings: Settings, config: OpscordConfig | None = None,
                      environ: Mapping[str, str] | None = None) -> AsyncIterator[AppContext]:
    """Open the DB, the audit writer and the one HTTP session; close them on exit.

    `config` defaults to the file OPSCORD_CONFIG names; `environ` (for provider secrets) to os.environ.
    """
    if config is None:
        config = load_config(settings.opscord_config)
    db = await Database.open(settings.opscord_db)
    audit = AuditLog(db)
    audit.start()
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    authorizer = Authorizer(config)
    providers = ProviderRegistry(config, HttpClient(session), environ)
    pipeline = Pipeline(config=config, store=OperationStore(db), audit=audit, authorizer=authorizer,
                        providers=providers)
    try:
        yield AppContext(settings=settings, config=config, db=db, audit=audit, http=session,
                         authorizer=authorizer, pipeline=pipeline)
    finally:
        await session.close()
        await audit.close()
        await db.close()


def secret_values(config: OpscordConfig, environ: Mapping[str, str]) -> list[str]:
    """The values of every environment variable the config names as a secret."""
    values = []
    for svc in config.services:
        for section in PROVIDER_SECTIONS:
            settings = getattr(svc, section)
            if settings is not None:
                values += [environ[name] for name in settings.env_names() if environ.get(name)]
    return values


async def run(settings: Settings) -> int:
    """Run the bot against Discord (or whatever the URL overrides name)."""
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()
    redactor = configure_logging(settings.log_level, [token])
    redirect_discord(settings.discord_api_base_url, settings.discord_gateway_url)
    try:
        config = load_config(settings.opscord_config)
        for value in secret_values(config, os.environ):
            redactor.add(value)
        for problem in env_problems(config, os.environ):
            log.warning("config: %s (that provider will refuse to run)", problem)
        async with app_context(settings, config) as ctx:
            bot = OpsBot(ctx)
            status = StatusServer(bot)
            try:
                await status.start(settings.listen_host, settings.listen_port)
            except OSError as exc:  # the bot is more important than its own metrics: keep going
                log.error("cannot serve /healthz and /metrics on %s: %s", settings.opscord_http_listen,
                          exc.strerror or exc)
            try:
                async with bot:
                    await bot.start(token)
            finally:
                await status.stop()
    except ConfigError as exc:
        log.error("config %s is invalid: %s", settings.opscord_config, exc)
        return 2
    except discord.LoginFailure:
        log.error("Discord refused the token (DISCORD_TOKEN): check it in the developer portal")
        return 2
    return 0
