"""The composition root: settings → config → store → providers → pipeline → services → OpsBot.

Everything is built once, here, in that order, and handed to whoever needs it; nothing is rewired
after construction. The parts that talk to Discord (members' roles, incident threads) are built
from the client, so the client is given a builder and composes its services as it is constructed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import aiohttp
import discord
import yarl

from bot import collector, startup
from bot.alerts import AlertChannel, AlertReceiver
from bot.config import ConfigError, OpscordConfig, env_problems, load_config, provider_settings
from bot.guide import Guide
from bot.incidents import IncidentRoom, Incidents
from bot.logging_setup import configure_logging
from bot.metrics import Metrics
from bot.observe import Observer
from bot.pipeline import Access, Journal, Members, Pipeline
from bot.providers import ProviderRegistry
from bot.settings import Settings
from bot.store import Store, open_store
from bot.trail import AuditTrail
from integrations.http import HttpClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Foundation:
    """The resources opened once per process: the store, the one HTTP session, the providers over it."""

    settings: Settings
    config: OpscordConfig
    store: Store
    http: aiohttp.ClientSession
    providers: ProviderRegistry
    metrics: Metrics = field(default_factory=Metrics)


@dataclass(frozen=True)
class App:
    """Everything a cog, the web endpoints or the CLI needs."""

    settings: Settings
    config: OpscordConfig
    store: Store
    providers: ProviderRegistry
    access: Access
    journal: Journal
    pipeline: Pipeline
    observer: Observer
    incidents: Incidents
    trail: AuditTrail
    guide: Guide
    metrics: Metrics
    alerts: AlertReceiver


@contextlib.asynccontextmanager
async def open_foundation(settings: Settings, config: OpscordConfig,
                          environ: Mapping[str, str] | None = None) -> AsyncIterator[Foundation]:
    """Open the store and the HTTP session; close them (the store after its queued writes) on exit."""
    store = await open_store(settings.opscord_db, settings.database_url, chain_key=settings.chain_key)
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
    metrics = Metrics()
    try:
        providers = ProviderRegistry(config, HttpClient(session, observer=metrics.upstream_call), environ)
        yield Foundation(settings, config, store, session, providers, metrics)
    finally:
        await session.close()
        await store.close()


def compose(base: Foundation, *, members: Members, room: IncidentRoom, alert_channel: AlertChannel | None = None
            ) -> App:
    """The pipeline and the services over the foundation."""
    access = Access(base.config)
    journal = Journal(base.store, access)
    incidents = Incidents(base.config, base.store, base.providers, journal, room)
    pipeline = Pipeline(base.config, base.store, access, base.providers, members, metrics=base.metrics,
                        incidents=incidents)
    return App(settings=base.settings, config=base.config, store=base.store, providers=base.providers,
               access=access, journal=journal, pipeline=pipeline,
               observer=Observer(base.config, base.store, base.providers, journal), incidents=incidents,
               trail=AuditTrail(base.config, base.store, journal, base.settings), metrics=base.metrics,
               alerts=AlertReceiver(base.config, base.store, incidents=incidents, journal=journal, room=room,
                                    channel=alert_channel, metrics=base.metrics),
               guide=Guide(base.config, access, pipeline.policy, journal))


def discord_app(base: Foundation) -> Callable[[discord.Client], App]:
    """How OpsBot composes its services from itself (its guild's members and threads)."""
    from bot.client.alerts import DiscordAlertChannel
    from bot.client.guild import DiscordIncidentRoom, GuildMembers

    def build(client: discord.Client) -> App:
        guild_id = base.config.guild.id
        return compose(base, members=GuildMembers(client, guild_id), room=DiscordIncidentRoom(client, base.config),
                       alert_channel=DiscordAlertChannel(client, base.config))

    return build


def redirect_discord(api_base_url: str | None, gateway_url: str | None) -> None:
    """Point discord.py's REST base and gateway at other URLs (a REST proxy or the local emulator)."""
    if api_base_url:
        discord.http.Route.BASE = api_base_url.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def secret_values(config: OpscordConfig, environ: Mapping[str, str]) -> list[str]:
    """The values of every environment variable the config names as a secret."""
    values = [environ[name] for _, settings in provider_settings(config) for name in settings.env_names()
              if environ.get(name)]
    if config.alerts is not None and environ.get(config.alerts.token_env):
        values.append(environ[config.alerts.token_env])
    return values


async def _freeze_when_ready(bot: discord.Client) -> None:
    """Once connected, what the start built is set aside from the garbage collector (bot.collector)."""
    await bot.wait_until_ready()
    collector.freeze_what_start_built()


async def run(settings: Settings) -> int:
    """Run the bot against Discord (or whatever the URL overrides name) until SIGTERM or SIGINT."""
    from bot.client import OpsBot
    from bot.leader import Leadership
    from bot.web import StatusServer

    collector.tune()
    assert settings.discord_token is not None
    token = settings.discord_token.get_secret_value()
    audit_key = settings.audit_key.decode() if settings.audit_key else None
    redactor = configure_logging(settings.log_level, [token, *filter(None, [settings.database_url, audit_key])],
                                 settings.log_format)
    startup.quiet_discord_logs(debug=settings.log_level == "DEBUG")
    redirect_discord(settings.discord_api_base_url, settings.discord_gateway_url)
    try:
        config = load_config(settings.opscord_config)
    except ConfigError as exc:
        log.error("config %s is invalid: %s", settings.opscord_config, exc)
        return 2
    for value in secret_values(config, os.environ):
        redactor.add(value)
    for problem in env_problems(config, os.environ):
        log.warning("config: %s (that provider will refuse to run)", problem)
    async with open_foundation(settings, config) as base:
        leadership = Leadership.of(base.store, settings.opscord_lease_seconds)  # replicas on PostgreSQL; else None
        bot = OpsBot(discord_app(base))
        status = StatusServer(bot, leadership)
        try:
            await status.start(settings.listen_host, settings.listen_port)
        except OSError as exc:  # the bot is more important than its own metrics: keep going
            log.error("cannot serve /healthz and /metrics on %s: %s", settings.opscord_http_listen,
                      exc.strerror or exc)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        try:
            if leadership is not None:  # a standby waits here, without connecting to Discord
                if not await leadership.wait_until_leader(stopping):
                    return 0
                await base.store.append(leadership.takeover_entry())
            async with bot:
                runner = asyncio.create_task(startup.connect(bot, token), name="discord-client")
                frozen = asyncio.create_task(_freeze_when_ready(bot), name="collector-freeze")
                if leadership is not None:
                    leadership.announce_when_ready(bot)  # the takeover's line in the audit channel
                stop = asyncio.create_task(stopping.wait(), name="stop-signal")
                done, _ = await asyncio.wait({runner, stop}, return_when=asyncio.FIRST_COMPLETED)
                if stop in done:
                    log.info("stopping: no new operations; waiting up to %d s for running ones",
                             config.operations.stop_grace_seconds)
                    await bot.shutdown()
                else:
                    stop.cancel()
                frozen.cancel()  # never connected: nothing to set aside
                await startup.finished(runner)
        except Exception as exc:
            sentence = startup.explain(exc, bot.application_id, config.guild.id)
            if sentence is None:
                raise
            log.error(sentence, exc_info=exc if settings.log_level == "DEBUG" else None)
            return 2
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await status.stop()
            if leadership is not None:
                await leadership.release()
    return 0
