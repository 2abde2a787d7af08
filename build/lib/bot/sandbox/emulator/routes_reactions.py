"""Reaction routes: the bot reacts, removes reactions, lists who reacted (Authorization: Bot <token>).

Each change is announced on the gateway like a member's reaction (the bot receives its own
``MESSAGE_REACTION_ADD`` too, as on Discord). Adding an emoji that is already there, or removing one
that is not, answers 204 and announces nothing.
"""

from __future__ import annotations

from aiohttp import web

from bot.sandbox.emulator.http_utils import DiscordError, no_content, reply, snowflake, state_of
from bot.sandbox.emulator.models import Message
from bot.sandbox.emulator.payloads import user_payload
from bot.sandbox.emulator.reactions import MAX_REACTIONS, emoji_key
from bot.sandbox.emulator.routes_channels import find_channel, find_message

routes = web.RouteTableDef()
UNKNOWN_EMOJI, MAX_REACTIONS_REACHED = 10014, 30010
BASE = "/api/v10/channels/{channel}/messages/{message}/reactions"


def _target(request: web.Request) -> tuple[Message, str]:
    message = find_message(request, find_channel(request))
    try:
        return message, emoji_key(request.match_info["emoji"])
    except ValueError:
        raise DiscordError(400, UNKNOWN_EMOJI, "Unknown Emoji") from None


@routes.put(BASE + "/{emoji}/@me")
async def add_reaction(request: web.Request) -> web.Response:
    """The bot reacts to a message."""
    state = state_of(request)
    message, key = _target(request)
    if key not in message.reactions and len(message.reactions) >= MAX_REACTIONS:
        raise DiscordError(400, MAX_REACTIONS_REACHED, f"Maximum number of reactions reached ({MAX_REACTIONS})")
    state.react(message, state.bot_user.id, key, add=True)
    return no_content()


@routes.delete(BASE + "/{emoji}/@me")
async def remove_own_reaction(request: web.Request) -> web.Response:
    """The bot removes its reaction."""
    state = state_of(request)
    message, key = _target(request)
    state.react(message, state.bot_user.id, key, add=False)
    return no_content()


@routes.delete(BASE + "/{emoji}/{user}")
async def remove_user_reaction(request: web.Request) -> web.Response:
    """The bot removes someone's reaction (Manage Messages, which the emulated bot has)."""
    state = state_of(request)
    message, key = _target(request)
    state.react(message, snowflake(request, "user"), key, add=False)
    return no_content()


@routes.get(BASE + "/{emoji}")
async def list_reactors(request: web.Request) -> web.Response:
    """Users who reacted with an emoji, by id (``limit`` 1-100, default 25; ``after``; ``type`` 1 = burst)."""
    state = state_of(request)
    message, key = _target(request)
    limit = max(1, min(100, int(request.query.get("limit", 25))))
    after = int(request.query.get("after", 0))
    burst = request.query.get("type", "0") == "1"
    users = [] if burst else sorted(u for u in message.reactions.get(key, []) if u > after)[:limit]
    return reply([user_payload(state.users[u]) for u in users if u in state.users])


@routes.delete(BASE + "/{emoji}")
async def clear_emoji(request: web.Request) -> web.Response:
    """Remove every reaction with one emoji."""
    message, key = _target(request)
    state_of(request).clear_reactions(message, key)
    return no_content()


@routes.delete(BASE)
async def clear_all(request: web.Request) -> web.Response:
    """Remove every reaction from a message."""
    message = find_message(request, find_channel(request))
    state_of(request).clear_reactions(message)
    return no_content()
