"""``DiscordEmulator``: the in-process Discord (REST + gateway) that tests and the sandbox drive.

Usage::

    emu = DiscordEmulator(bot_token="test-token")
    guild = emu.add_guild("Opscord Test")
    chan = emu.add_channel(guild.id, "deployments")
    alice = emu.add_member(guild.id, "alice")
    await emu.start()
    # point discord.http.Route.BASE at emu.api_base_url and the gateway at emu.gateway_url
    await emu.wait_ready()
    handle = await emu.run_command(guild.id, chan.id, alice.id, "ping")
    await handle.wait_response()
"""

from __future__ import annotations

import socket
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aiohttp import web

from bot.sandbox.emulator import routes_app, routes_channels, routes_guilds, routes_interactions, routes_reactions
from bot.sandbox.emulator.actions import UserActions
from bot.sandbox.emulator.gateway import GatewayHub, Session
from bot.sandbox.emulator.http_utils import STATE_KEY, emulator_middleware
from bot.sandbox.emulator.interactions import InteractionHandle
from bot.sandbox.emulator.models import (
    DEFAULT_EVERYONE_PERMISSIONS,
    JSON,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    ScheduledEvent,
    User,
)
from bot.sandbox.emulator.payloads import channel_payload, member_payload, role_payload
from bot.sandbox.emulator.ratelimits import RateLimitHit, RateLimitRule, RateLimitScope
from bot.sandbox.emulator.state import EmulatorState

T = TypeVar("T")
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


class DiscordEmulator:
    """One application with its bot user, the guilds it is in, and a server speaking Discord's API."""

    def __init__(self, bot_token: str, *, bot_name: str = "Opscord", host: str = "127.0.0.1", port: int = 0) -> None:
        """Create the emulator; nothing listens until :meth:`start`. ``port=0`` picks a free port."""
        self.state = EmulatorState(bot_token, bot_name)
        self.gateway = GatewayHub(self.state)
        self.state.dispatch = self.gateway.dispatch
        self.users = UserActions(self.state, self.gateway)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    # -- setup -------------------------------------------------------------------------------

    def refuse_members_intent(self) -> None:
        """The Server Members intent is off in the developer portal: IDENTIFY with it is closed with 4014."""
        self.state.members_intent = False

    @property
    def bot_token(self) -> str:
        """The token the bot must present."""
        return self.state.bot_token

    @property
    def application_id(self) -> int:
        """The application id (equal to the bot user's id)."""
        return self.state.application_id

    @property
    def bot_user(self) -> User:
        """The bot's user."""
        return self.state.bot_user

    def add_guild(self, name: str, *, invite_bot: bool = True) -> Guild:
        """A guild with its ``@everyone`` role (id == guild id); the bot is a member unless ``invite_bot=False``
        (then it is not in READY, and its guild routes answer 403 Missing Access, as on Discord)."""
        state = self.state
        guild = Guild(id=state.ids.next(), name=name, owner_id=state.owner.id)
        guild.roles[guild.id] = Role(id=guild.id, guild_id=guild.id, name="@everyone",
                                     permissions=DEFAULT_EVERYONE_PERMISSIONS)
        if invite_bot:
            guild.members[state.bot_user.id] = Member(user=state.bot_user, guild_id=guild.id)
        state.guilds[guild.id] = guild
        return guild

    def add_role(self, guild_id: int, name: str, *, permissions: int = 0) -> Role:
        """A role; announced to a connected bot."""
        guild = self.state.guilds[guild_id]
        role = Role(id=self.state.ids.next(), guild_id=guild_id, name=name, permissions=permissions,
                    position=len(guild.roles))
        guild.roles[role.id] = role
        self.state.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(guild_id), "role": role_payload(role)})
        return role

    def add_channel(self, guild_id: int, name: str, *, topic: str | None = None) -> Channel:
        """A text channel (type 0); announced to a connected bot."""
        guild = self.state.guilds[guild_id]
        position = sum(1 for c in guild.channels.values() if not c.is_thread)
        channel = Channel(id=self.state.ids.next(), guild_id=guild_id, name=name, topic=topic, position=position)
        guild.channels[channel.id] = channel
        self.state.channels[channel.id] = channel
        self.state.dispatch("CHANNEL_CREATE", channel_payload(channel))
        return channel

    def add_member(self, guild_id: int, username: str, *, roles: list[int] | None = None,
                   nick: str | None = None) -> Member:
        """A new user who is a member of the guild; announced to a connected bot."""
        user = User(id=self.state.ids.next(), username=username)
        self.state.users[user.id] = user
        member = Member(user=user, guild_id=guild_id, roles=list(roles or []), nick=nick)
        self.state.guilds[guild_id].members[user.id] = member
        self.state.dispatch("GUILD_MEMBER_ADD", member_payload(member) | {"guild_id": str(guild_id)})
        return member

    def set_member_roles(self, guild_id: int, user_id: int, roles: list[int]) -> Member:
        """Replace a member's roles (GUILD_MEMBER_UPDATE)."""
        member = self.state.guilds[guild_id].members[user_id]
        member.roles = list(roles)
        self.state.dispatch("GUILD_MEMBER_UPDATE", member_payload(member) | {"guild_id": str(guild_id)})
        return member

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``host`` (a free port unless one was given)."""
        app = web.Application(middlewares=[emulator_middleware], client_max_size=MAX_UPLOAD_BYTES)
        app[STATE_KEY] = self.state
        for module in (routes_app, routes_interactions, routes_channels, routes_reactions, routes_guilds):
            app.add_routes(module.routes)
        app.router.add_get("/gateway", self.gateway.handle)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        app[routes_app.GATEWAY_URL_KEY] = self.gateway_url
        self.gateway.url = self.gateway_url
        self.state.base_url = self.base_url
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Close gateway connections and stop listening."""
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> DiscordEmulator:
        """Start on entry."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop on exit."""
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        """The value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """The value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (as a ``yarl.URL``)."""
        return f"ws://{self.host}:{self.port}/gateway"

    async def wait_ready(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until a connected client has identified and received its GUILD_CREATEs."""
        await self.state.wait_until(self.gateway.ready, timeout, "a bot to identify")

    async def wait_until(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:  # noqa: ASYNC109
        """Wait until ``predicate()`` is truthy (re-checked on every state change) and return it."""
        return await self.state.wait_until(predicate, timeout)

    async def drop_connections(self, *, abort: bool = True) -> None:
        """Cut gateway connections abruptly; the client must RESUME (missed dispatches are replayed)."""
        await self.gateway.drop(abort=abort)

    def hold_dispatches(self) -> None:
        """Stop delivering gateway dispatches: they are numbered and kept, the bot sees nothing (a stall).

        Interactions dispatched meanwhile still start their 3 s clock, as on Discord.
        """
        self.gateway.hold()

    def release_dispatches(self) -> None:
        """Deliver every held dispatch, in order, and deliver at once again."""
        self.gateway.release()

    @property
    def gateway_sessions(self) -> list[Session]:
        """Every gateway session, oldest first: ``intents``, ``held``, ``events()`` (the dispatch names sent)."""
        return list(self.gateway.sessions.values())

    # -- rate limits -------------------------------------------------------------------------

    def rate_limit(self, method: str, path: str, *, count: int = 1, retry_after: float = 0.05,
                   scope: RateLimitScope = "user", bucket: str | None = None) -> RateLimitRule:
        """Answer the next ``count`` requests matching ``method`` and ``path`` with a 429.

        ``path`` is an API path without ``/api/v10``; ``{name}`` segments match any one segment and
        ``*`` matches every path (``method="*"`` every method), e.g. ``("PATCH",
        "/channels/{channel}/messages/{message}")`` or ``("PATCH", "/webhooks/{app}/{token}/messages/{message}")``.
        ``scope`` "user" (per route) and "shared" (per resource) send the ``X-RateLimit-*`` headers;
        "global" sends ``X-RateLimit-Global: true`` and ``"global": true`` and, as on Discord, never
        strikes interaction endpoints. discord.py tries a request five times: ``count`` >= 5 on
        one request makes it fail with a 429.
        """
        return self.state.rate_limits.arm(method, path, count=count, retry_after=retry_after, scope=scope,
                                          bucket=bucket)

    def rate_limit_global(self, *, count: int = 1, retry_after: float = 0.05) -> RateLimitRule:
        """The next ``count`` bot requests (any route but the interaction endpoints) hit the global limit."""
        return self.rate_limit("*", "*", count=count, retry_after=retry_after, scope="global")

    @property
    def rate_limit_hits(self) -> list[RateLimitHit]:
        """Every 429 served, oldest first, each with the status its retry got."""
        return list(self.state.rate_limits.hits)

    # -- acting as users ---------------------------------------------------------------------

    async def run_command(self, guild_id: int, channel_id: int, user_id: int, command: str,
                          options: Mapping[str, Any] | None = None) -> InteractionHandle:
        """Dispatch a slash command ("audit recent" = command audit, subcommand recent); returns at once."""
        return await self.users.run_command(guild_id, channel_id, user_id, command, options)

    async def autocomplete(self, guild_id: int, channel_id: int, user_id: int, command: str,
                           options: Mapping[str, Any], *, focused: str,
                           timeout: float = 5.0) -> list[JSON]:  # noqa: ASYNC109
        """Dispatch an autocomplete interaction (``focused`` names the option being typed); return the choices."""
        return await self.users.autocomplete(
            guild_id, channel_id, user_id, command, options, focused=focused, timeout=timeout
        )

    async def click_button(self, message_id: int, custom_id: str, user_id: int) -> InteractionHandle:
        """Click a button; returns at once."""
        return await self.users.click_button(message_id, custom_id, user_id)

    async def select(self, message_id: int, custom_id: str, user_id: int, values: list[str]) -> InteractionHandle:
        """Choose ``values`` in a select menu; returns at once."""
        return await self.users.select(message_id, custom_id, user_id, values)

    async def submit_modal(self, opened_by: InteractionHandle, values: dict[str, str],
                           user_id: int | None = None) -> InteractionHandle:
        """Submit the modal the bot opened in answer to ``opened_by``."""
        return await self.users.submit_modal(opened_by, values, user_id)

    async def post_message(self, channel_id: int, user_id: int, content: str) -> Message:
        """A member posts a plain message."""
        return await self.users.post_message(channel_id, user_id, content)

    async def react(self, message_id: int, user_id: int, emoji: str) -> Message:
        """A member reacts (unicode emoji, or ``name:id``); MESSAGE_REACTION_ADD goes to bots with the intent."""
        return await self.users.react(message_id, user_id, emoji)

    async def unreact(self, message_id: int, user_id: int, emoji: str) -> Message:
        """A member takes their reaction back (MESSAGE_REACTION_REMOVE)."""
        return await self.users.unreact(message_id, user_id, emoji)

    # -- what happened -----------------------------------------------------------------------

    def synced_commands(self, guild_id: int) -> list[JSON]:
        """The guild's commands as last PUT by the bot (with ids)."""
        return list(self.state.guild_commands.get(guild_id, []))

    @property
    def global_command_puts(self) -> int:
        """How many times the bot overwrote global commands."""
        return self.state.global_command_puts

    @property
    def global_commands(self) -> list[JSON]:
        """The global commands as last PUT."""
        return list(self.state.global_commands)

    def messages(self, channel_id: int) -> list[Message]:
        """Every message in a channel or thread, oldest first, ephemeral ones included (flagged)."""
        return list(self.state.channel_messages.get(channel_id, []))

    def get_message(self, message_id: int) -> Message:
        """A message by id (KeyError if unknown or deleted)."""
        return self.state.messages[message_id]

    def get_channel(self, channel_id: int) -> Channel:
        """A channel or thread by id."""
        return self.state.channels[channel_id]

    def get_guild(self, guild_id: int) -> Guild:
        """A guild by id."""
        return self.state.guilds[guild_id]

    @property
    def interactions(self) -> list[InteractionHandle]:
        """Every dispatched interaction, oldest first."""
        return list(self.state.interactions.values())

    @property
    def threads(self) -> list[Channel]:
        """Every thread the bot created, oldest first."""
        return [c for c in self.state.channels.values() if c.is_thread]

    @property
    def scheduled_events(self) -> list[ScheduledEvent]:
        """Every scheduled event, oldest first."""
        return list(self.state.scheduled_events.values())

    @property
    def reactions(self) -> dict[int, list[str]]:
        """The bot's reactions per message id (emoji as sent: unicode, or ``name:id``); ``[]`` for other ids.

        Everyone's reactions, with the reactors' ids, are in :attr:`Message.reactions`.
        """
        bot_id = self.state.bot_user.id
        mine: dict[int, list[str]] = defaultdict(list)
        for message in self.state.messages.values():
            if message.reactions:
                mine[message.id] = [key for key, users in message.reactions.items() if bot_id in users]
        return mine

    @property
    def pins(self) -> dict[int, list[int]]:
        """Pinned message ids per channel id, in pin order."""
        return self.state.pins

    @property
    def violations(self) -> list[str]:
        """Every refused request (4xx, unknown routes included) and gateway misuse, in order."""
        return self.state.violations

    @property
    def identify_count(self) -> int:
        """How many IDENTIFYs succeeded."""
        return self.gateway.identify_count

    @property
    def resume_count(self) -> int:
        """How many RESUMEs succeeded."""
        return self.gateway.resume_count
