"""Application routes: login, application info, command sync, gateway discovery, attachment downloads."""

from __future__ import annotations

from aiohttp import web

from bot.sandbox.emulator.commands import check_command_list, store_commands
from bot.sandbox.emulator.http_utils import (
    MISSING_ACCESS,
    UNKNOWN_GUILD,
    UNKNOWN_USER,
    DiscordError,
    not_found,
    read_body,
    reply,
    snowflake,
    state_of,
)
from bot.sandbox.emulator.payloads import user_payload

routes = web.RouteTableDef()
GATEWAY_URL_KEY = web.AppKey("gateway_url", str)


def _check_application(request: web.Request) -> None:
    if snowflake(request, "app") != state_of(request).application_id:
        raise DiscordError(404, 10002, "Unknown Application")


def _check_guild(request: web.Request) -> int:
    """The guild of a guild-commands route: 404 when unknown, 403 Missing Access when the bot is not in it."""
    state = state_of(request)
    guild_id = snowflake(request, "guild")
    if guild_id not in state.guilds:
        raise not_found(UNKNOWN_GUILD, "Guild")
    if not state.bot_in(guild_id):
        raise DiscordError(403, MISSING_ACCESS, "Missing Access")
    return guild_id


@routes.get("/api/v10/users/@me")
async def get_me(request: web.Request) -> web.Response:
    """The bot user; a 401 here is discord.py's LoginFailure."""
    state = state_of(request)
    return reply(user_payload(state.bot_user) | {"verified": True, "mfa_enabled": False, "flags": 0})


@routes.get("/api/v10/users/{user}")
async def get_user(request: web.Request) -> web.Response:
    """Any known user."""
    user = state_of(request).users.get(snowflake(request, "user"))
    if user is None:
        raise not_found(UNKNOWN_USER, "User")
    return reply(user_payload(user))


@routes.get("/api/v10/oauth2/applications/@me")
@routes.get("/api/v10/applications/@me")
async def get_application(request: web.Request) -> web.Response:
    """Application info with the keys discord.py's AppInfo requires."""
    state = state_of(request)
    return reply(
        {
            "id": str(state.application_id),
            "name": state.bot_user.username,
            "description": "Opscord (local Discord emulator)",
            "icon": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": user_payload(state.owner),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "summary": "",
            "rpc_origins": [],
            "tags": [],
            "bot": user_payload(state.bot_user),
        }
    )


@routes.put("/api/v10/applications/{app}/guilds/{guild}/commands")
async def put_guild_commands(request: web.Request) -> web.Response:
    """Bulk-overwrite a guild's commands (checked against Discord's limits) and echo them with ids."""
    _check_application(request)
    state = state_of(request)
    guild_id = _check_guild(request)
    body, _ = await read_body(request)
    incoming = body.get("items", [])
    check_command_list(incoming)
    stored = store_commands(
        incoming, state.guild_commands.get(guild_id, []), application_id=state.application_id,
        guild_id=guild_id, new_id=state.ids.next,
    )
    state.guild_commands[guild_id] = stored
    return reply(stored)


@routes.get("/api/v10/applications/{app}/guilds/{guild}/commands")
async def get_guild_commands(request: web.Request) -> web.Response:
    """The guild's synced commands."""
    _check_application(request)
    return reply(state_of(request).guild_commands.get(_check_guild(request), []))


@routes.put("/api/v10/applications/{app}/commands")
async def put_global_commands(request: web.Request) -> web.Response:
    """Bulk-overwrite global commands; counted, because a bot should not do this on every start."""
    _check_application(request)
    state = state_of(request)
    body, _ = await read_body(request)
    incoming = body.get("items", [])
    check_command_list(incoming)
    state.global_command_puts += 1
    state.global_commands = store_commands(
        incoming, state.global_commands, application_id=state.application_id, guild_id=None,
        new_id=state.ids.next,
    )
    return reply(state.global_commands)


@routes.get("/api/v10/applications/{app}/commands")
async def get_global_commands(request: web.Request) -> web.Response:
    """The global commands."""
    _check_application(request)
    return reply(state_of(request).global_commands)


@routes.get("/api/v10/gateway")
@routes.get("/api/v10/gateway/bot")
async def get_gateway(request: web.Request) -> web.Response:
    """Gateway discovery (only AutoShardedClient asks)."""
    url = request.app[GATEWAY_URL_KEY]
    limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
    return reply({"url": url, "shards": 1, "session_start_limit": limit})


@routes.get("/attachments/{channel}/{attachment}/{filename}")
async def get_attachment(request: web.Request) -> web.Response:
    """Serve an uploaded file's bytes, so ``Attachment.read()`` works."""
    content = state_of(request).files.get(request.match_info["attachment"])
    if content is None:
        raise DiscordError(404, 0, "404: Not Found")
    return web.Response(body=content, content_type="application/octet-stream")
