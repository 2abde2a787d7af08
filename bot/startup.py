"""Starting against Discord: each way a start fails is one sentence that says what to do.

- Discord unreachable: before logging in, Opscord waits for Discord's API with backoff, saying so on
  each try; once logged in, discord.py retries the gateway with backoff itself, and its traceback
  per retry becomes one line saying the gateway is unreachable.
- A wrong token, the Server Members intent switched off, a guild id that is wrong or a guild the bot
  was never invited to: one sentence (with the portal page or the invite URL built from the
  application id) and exit code 2, so a service manager does not restart into the same wall.
- No traceback unless LOG_LEVEL=DEBUG; discord.py's notes about missing voice libraries are dropped
  (Opscord has no voice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord

log = logging.getLogger(__name__)

UNKNOWN_GUILD, MISSING_ACCESS = 10004, 50001
FIRST_RETRY_S, LONGEST_RETRY_S = 1.0, 60.0
INVITE_PERMISSIONS = discord.Permissions(
    send_messages=True, embed_links=True, attach_files=True, read_message_history=True, add_reactions=True,
    create_public_threads=True, send_messages_in_threads=True, manage_threads=True, manage_events=True)
"""What Opscord needs in its guild (README: Connect a real Discord server)."""


def invite_url(application_id: int | None) -> str:
    """The OAuth2 URL that adds the bot and its slash commands to a server."""
    return (f"https://discord.com/oauth2/authorize?client_id={application_id or 'YOUR_APPLICATION_ID'}"
            f"&scope=bot+applications.commands&permissions={INVITE_PERMISSIONS.value}")


def reason(exc: BaseException) -> str:
    """A connection failure in a few words."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"{type(exc).__name__}: {exc}"[:200]


class _DiscordNotes(logging.Filter):
    """discord.py's start-up noise as Opscord wants it: no voice notes; a gateway retry as one line."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop or rewrite the record (a logger filter: it runs before any handler sees it)."""
        message = record.getMessage()
        if "voice will NOT be supported" in message:
            return False
        if message.startswith("Attempting a reconnect in"):
            error = record.exc_info[1] if record.exc_info else None
            record.msg = (f"Discord's gateway is unreachable ({reason(error) if error else 'connection lost'}); "
                          f"retrying{message.removeprefix('Attempting a reconnect')} (with backoff)")
            record.args = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            if not self.debug:
                record.exc_info, record.exc_text = None, None
        return True


def quiet_discord_logs(debug: bool) -> None:
    """Install the filter on discord.py's client logger (before the client is built: it warns in __init__)."""
    logger = logging.getLogger("discord.client")
    for old in [f for f in logger.filters if isinstance(f, _DiscordNotes)]:
        logger.removeFilter(old)
    logger.addFilter(_DiscordNotes(debug))


async def _until_reachable(what: str, probe: Callable[[], Awaitable[str | None]], stopped: Callable[[], bool]
                           ) -> bool:
    """Run `probe` (None: reachable, else why not) with backoff until it passes (True) or a stop (False)."""
    delay = FIRST_RETRY_S
    while not stopped():
        try:
            problem = await probe()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            problem = reason(exc)
        if problem is None:
            return True
        log.warning("%s is unreachable (%s); retrying in %.0f s", what, problem, delay)
        for _ in range(round(delay / 0.2)):  # in slices, so a stop does not wait for the whole delay
            if stopped():
                break
            await asyncio.sleep(0.2)
        delay = min(delay * 2, LONGEST_RETRY_S)
    return False


async def wait_for_discord(api_base_url: str, stopped: Callable[[], bool] = lambda: False) -> bool:
    """True once Discord's API answers (False: stopped first)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def probe() -> str | None:
            async with session.get(f"{api_base_url}/gateway") as resp:
                return None if resp.status < 500 else f"it answered {resp.status}"

        return await _until_reachable(f"Discord at {api_base_url}", probe, stopped)


async def wait_for_gateway(url: str, stopped: Callable[[], bool] = lambda: False) -> bool:
    """True once Discord's gateway says HELLO (False: stopped first)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def probe() -> str | None:
            async with session.ws_connect(f"{url}?v=10&encoding=json") as ws:
                hello = await ws.receive(timeout=10)
                return None if hello.type is aiohttp.WSMsgType.TEXT else f"it sent {hello.type.name}"

        return await _until_reachable(f"Discord's gateway at {url}", probe, stopped)


async def connect(bot: discord.Client, token: str) -> None:
    """Wait for Discord's API, log in (setup and recovery run), wait for the gateway, then hold it.

    Once connected, discord.py reconnects by itself. It cannot retry a *first* connection that failed
    (it reads the sequence of a socket it never had), so until one succeeded Opscord probes the
    gateway itself and tries again.
    """
    if not await wait_for_discord(discord.http.Route.BASE, bot.is_closed):
        return
    await bot.login(token)
    gateway = str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY).rstrip("/")
    while await wait_for_gateway(gateway, bot.is_closed):
        try:
            await bot.connect(reconnect=True)
            return
        except AttributeError:
            if bot.ws is not None:
                raise
            log.debug("the first gateway connection failed; probing the gateway again")


async def finished(client: asyncio.Task[None], grace: float = 10.0) -> None:
    """The client task's end: its failure raised; after a stop, cancelled if it is still sleeping to reconnect."""
    done, _ = await asyncio.wait({client}, timeout=grace)
    if done:
        client.result()
        return
    client.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await client


def explain(exc: BaseException, application_id: int | None, guild_id: int) -> str | None:
    """The one sentence for a start failure Opscord knows; None for anything else (a bug: show it)."""
    if isinstance(exc, discord.LoginFailure):
        return ("Discord refused the token (DISCORD_TOKEN): copy a fresh one from the developer portal "
                "(your application → Bot → Reset Token) into .env, then start again.")
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        portal = f"https://discord.com/developers/applications/{application_id or ''}/bot".replace("//bot", "/bot")
        return (f"Discord refused the Server Members intent Opscord needs to read members' roles: enable it at "
                f"{portal} (Privileged Gateway Intents → Server Members Intent), then start again.")
    if isinstance(exc, discord.HTTPException) and exc.code in (UNKNOWN_GUILD, MISSING_ACCESS):
        return (f"The bot is not in the guild {guild_id} ([guild] id in the config): check the id (Developer Mode → "
                f"right-click the server → Copy Server ID), or invite the bot with {invite_url(application_id)}")
    if isinstance(exc, discord.HTTPException):
        return f"Discord refused a start-up request ({exc.status}: {exc.text[:200]}); try again later."
    if isinstance(exc, aiohttp.ClientError | OSError | TimeoutError):
        return (f"Discord could not be reached ({reason(exc)}); check the network (and DISCORD_API_BASE_URL / "
                "DISCORD_GATEWAY_URL), then start again.")
    return None
